// `npm run web [-- --port N] [--out DIR]`: builds the web app and serves it on 127.0.0.1,
// printing the URL. Port 0 picks a free port.
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb, parseOutFlag } from './build.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.bin': 'application/octet-stream', '.png': 'image/png',
};

export const DEFAULT_PORT = 8417;

/** Serves `dir` read-only on 127.0.0.1:port; resolves with the server and its URL. */
export function serveStatic(dir: string, port: number): Promise<{ server: Server; url: string }> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    let ok = false;
    try { ok = (file === root || file.startsWith(root + sep)) && statSync(file).isFile(); } catch { ok = false; }
    if (!ok || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'EADDRINUSE' ? `port ${port} on 127.0.0.1 is in use: pick another with --port N (0 = any free port)` : e.message)));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      resolvePromise({ server, url: `http://127.0.0.1:${actual}/` });
    });
  });
}

/** `--port N`: an integer in [0, 65535]. */
export function parsePort(argv: string[]): { port: number; rest: string[] } {
  const rest: string[] = [];
  let port = DEFAULT_PORT;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '--port') { rest.push(argv[i]); continue; }
    const text = argv[++i];
    const n = Number(text);
    if (text === undefined || !/^\d+$/.test(text) || n > 65535) throw new Error(`--port '${text ?? ''}' is not allowed: an integer in [0, 65535] (0 = any free port)`);
    port = n;
  }
  return { port, rest };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { port, rest } = parsePort(process.argv.slice(2));
    const { out, rest: unknown } = parseOutFlag(rest, 'out/web');
    if (unknown.length) throw new Error(`unknown argument '${unknown[0]}': web takes --port N and --out DIR`);
    const { server, url } = await serveStatic(out, port); // first, so a busy port fails before the build
    const built = await buildWeb(out).catch((e: Error) => { server.close(); throw e; });
    console.log(`web app built in ${built.seconds.toFixed(1)} s into ${out}`);
    console.log(`serving on ${url}  (Ctrl-C stops)`);
  } catch (e) {
    console.error(`web: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
