import { runTraining } from './src/run.ts';
import { DEFAULT_CONFIG } from './src/config.ts';
const rule = (process.argv[2] ?? 'bp') as any;
const r = await runTraining({ ...DEFAULT_CONFIG, rule, rank: Number(process.argv[3] ?? 10), epochs: 1, limitTrain: 12000, limitTest: 2000, svdEvery: Number(process.env.SVD ?? 100), backend: process.argv[4] ?? 'auto' }, { log: (l) => console.log(l) });
console.log(r.testAccuracy, r.seconds, r.backend);
