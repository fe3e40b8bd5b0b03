/**
 * `npm run bench [-- section ...]`: runs the node-level benchmarks one after another, each
 * printing its own table of medians. Sections: compression, engine, wal, query, line-protocol.
 * The HTTP ingest (`npm run bench:http`) and Raft (`node dist/bench/raft.js`) benchmarks start
 * processes of their own and run separately.
 */
import { runCompressionBench } from './compression.js';
import { runEngineBench } from './engine.js';
import { runLineProtocolBench } from './line-protocol.js';
import { runQueryBench } from './query.js';
import { printTable } from './table.js';
import { runWalBench } from './wal.js';

const sections: Record<string, () => Promise<void>> = {
  compression: () => runCompressionBench(),
  engine: () => runEngineBench(),
  wal: () => runWalBench(),
  query: async () => {
    printTable(runQueryBench());
  },
  'line-protocol': () => runLineProtocolBench(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in sections));
if (unknown.length > 0) {
  console.error(`unknown benchmark section(s): ${unknown.join(', ')}`);
  console.error(`sections: ${Object.keys(sections).join(', ')}`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(sections)) {
  console.log(`\n== ${name}`);
  await sections[name]();
}
