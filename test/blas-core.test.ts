// The OpenBLAS core choice (src/backends/blas-core.ts) and its self-test (native/core-self-test.cjs),
// with a planted wrong kernel: a small fake CBLAS library, compiled here, whose cblas_sgemm is
// right under its "default" core and drops the last term of every sum of more than 16 terms
// under the core "Cooperlake". Each scenario runs in a child process (the addon holds one
// library per process). Skipped, with the reason, where the addon or a C compiler is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coreLevel, fasterCores } from '../src/backends/blas-core.ts';
import { packageRoot } from '../src/package-root.ts';

const addon = join(packageRoot(), 'native', 'build', 'Release', 'ldfa_blas.node');
const cc = spawnSync('cc', ['--version']).status === 0;
const why = !existsSync(addon) ? 'the native addon is not built' : !cc ? 'no C compiler (cc) to build the planted library' : null;
if (why) console.log(`[blas-core.test] skipping the planted-kernel tests: ${why}`);
const planted = why === null ? it : it.skip;

const FAKE_BLAS = String.raw`
#include <stdlib.h>
#include <string.h>
static int threads = 1;
const char *openblas_get_corename(void) { const char *c = getenv("OPENBLAS_CORETYPE"); return c && *c ? c : "Prescott"; }
const char *openblas_get_config(void) { return "fake CBLAS for the planted-kernel test"; }
void openblas_set_num_threads(int n) { threads = n; }
int openblas_get_num_threads(void) { return threads; }
void cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
  const char *core = openblas_get_corename();
  int wrong = strcmp(core, "Cooperlake") == 0 && K > 16; /* the planted bug: the last term is dropped */
  for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) {
    double s = 0;
    for (int k = 0; k < K - wrong; k++) s += (double)(ta == 112 ? A[k * lda + i] : A[i * lda + k]) * (tb == 112 ? B[j * ldb + k] : B[k * ldb + j]);
    C[i * ldc + j] = (float)(alpha * s + (beta == 0 ? 0 : beta * C[i * ldc + j]));
  }
}
`;

function buildFake(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ldfa-fake-blas-'));
  writeFileSync(join(dir, 'fake.c'), FAKE_BLAS);
  const r = spawnSync('cc', ['-O1', '-shared', '-fPIC', '-o', join(dir, 'libfakeblas.so'), join(dir, 'fake.c')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cc failed: ${r.stderr}`);
  return join(dir, 'libfakeblas.so');
}

/** Loads the native BLAS in a child with this environment; returns its core choice or its error. */
function loadInChild(env: Record<string, string | undefined>): { choice?: { core: string; source: string; tried: { core: string; passed: boolean; detail: string }[] }; error?: string } {
  const script = `import { loadWithVerifiedCore } from ${JSON.stringify(join(packageRoot(), 'src', 'backends', 'blas-core.ts'))};
import { createRequire } from 'node:module';
const addon = createRequire(import.meta.url)(${JSON.stringify(addon)});
try {
  const { choice } = loadWithVerifiedCore(addon, [process.env.LDFA_BLAS_LIBRARY], { flags: new Set(process.env.FLAGS.split(' ')) });
  console.log(JSON.stringify({ choice }));
} catch (e) { console.log(JSON.stringify({ error: e.message })); }`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.OPENBLAS_CORETYPE; delete childEnv.LDFA_BLAS_CORE; delete childEnv.LDFA_BLAS_CORE_CHOICE;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: childEnv, encoding: 'utf8', cwd: packageRoot() });
  const line = r.stdout.trim().split('\n').pop();
  if (!line) throw new Error(`the child printed nothing (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(line);
}

const AVX512_BF16 = 'avx avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16';

describe('OpenBLAS core choice', () => {
  it('ranks cores by instruction-set level and offers only faster ones the CPU supports', () => {
    const flags = new Set(AVX512_BF16.split(' '));
    expect(fasterCores('Prescott', flags)).toEqual(['Cooperlake', 'SkylakeX', 'Haswell', 'Sandybridge']);
    expect(fasterCores('Haswell', flags)).toEqual(['Cooperlake', 'SkylakeX']);
    expect(fasterCores('Cooperlake', flags)).toEqual([]);
    expect(fasterCores('Prescott', new Set(['avx', 'avx2', 'fma']))).toEqual(['Haswell', 'Sandybridge']);
    expect(fasterCores('Prescott', new Set())).toEqual([]);
    expect(coreLevel('Zen')).toBe(coreLevel('Haswell'));
  });

  planted('a faster core with a planted wrong kernel is rejected; the next one that passes is adopted', () => {
    const lib = buildFake();
    const r = loadInChild({ LDFA_BLAS_LIBRARY: lib, FLAGS: AVX512_BF16 });
    expect(r.error).toBeUndefined();
    expect(r.choice!.tried[0]).toMatchObject({ core: 'Cooperlake', passed: false });
    expect(r.choice!.tried[0].detail).toMatch(/self-test failed: sgemm\(NN, M=\d+, N=\d+, K=\d+/);
    expect(r.choice!.tried[1]).toMatchObject({ core: 'SkylakeX', passed: true });
    expect(r.choice).toMatchObject({ core: 'SkylakeX', source: 'adopted' });
  });

  planted('the planted kernel is refused when forced by name, and when OPENBLAS_CORETYPE selects it', () => {
    const lib = buildFake();
    expect(loadInChild({ LDFA_BLAS_LIBRARY: lib, FLAGS: AVX512_BF16, LDFA_BLAS_CORE: 'Cooperlake' }).error)
      .toMatch(/LDFA_BLAS_CORE=Cooperlake: that core is refused: self-test failed/);
    expect(loadInChild({ LDFA_BLAS_LIBRARY: lib, FLAGS: AVX512_BF16, OPENBLAS_CORETYPE: 'Cooperlake' }).error)
      .toMatch(/OPENBLAS_CORETYPE=Cooperlake set in the environment, respected.*fail the self-test/);
  });

  planted('OPENBLAS_CORETYPE is respected, LDFA_BLAS_CORE=default keeps the detection, and a CPU without faster support tries nothing', () => {
    const lib = buildFake();
    expect(loadInChild({ LDFA_BLAS_LIBRARY: lib, FLAGS: AVX512_BF16, OPENBLAS_CORETYPE: 'Haswell' }).choice).toMatchObject({ core: 'Haswell', source: 'environment', tried: [] });
    expect(loadInChild({ LDFA_BLAS_LIBRARY: lib, FLAGS: AVX512_BF16, LDFA_BLAS_CORE: 'default' }).choice).toMatchObject({ core: 'Prescott', source: 'default', tried: [] });
    expect(loadInChild({ LDFA_BLAS_LIBRARY: lib, FLAGS: 'sse2' }).choice).toMatchObject({ core: 'Prescott', source: 'default', tried: [] });
  });
});
