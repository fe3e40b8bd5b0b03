/**
 * Line protocol bodies for the ingest benchmarks, shaped like Telegraf's cpu input:
 * `cpu,host=host_17,region=eu-west-1,rack=r17 usage_user=12.34,... <ms>` with `fields` fields
 * per line. Request r covers the next `linesPerRequest` hosts (cycling over `hosts`); the
 * timestamp advances by one second per full round over the hosts, so every series gets
 * in-order points.
 */
export interface BodyOptions {
  hosts: number;
  fields: number;
  linesPerRequest: number;
  startTs: number;
}

const FIELD_NAMES = [
  'usage_user',
  'usage_system',
  'usage_idle',
  'usage_nice',
  'usage_iowait',
  'usage_irq',
  'usage_softirq',
  'usage_steal',
  'usage_guest',
  'usage_guest_nice',
];

/** Returns body(r) for request number r (ms precision timestamps). */
export function telegrafCpuBodies(o: BodyOptions): (r: number) => string {
  // Per host a few precomputed field sets, so a body is string concatenation, not number
  // formatting: the generator must not be the bottleneck.
  const variants = 8;
  const prefixes: string[] = [];
  for (let h = 0; h < o.hosts; h++) {
    const section = `cpu,host=host_${h},region=${['eu-west-1', 'us-east-1', 'ap-south-1'][h % 3]},rack=r${h % 50}`;
    for (let v = 0; v < variants; v++) {
      const fs: string[] = [];
      for (let f = 0; f < o.fields; f++) {
        const name = FIELD_NAMES[f % FIELD_NAMES.length] + (f >= FIELD_NAMES.length ? `_${f}` : '');
        fs.push(`${name}=${(((h * 31 + v * 7 + f * 13) % 10000) / 100).toFixed(2)}`);
      }
      prefixes.push(`${section} ${fs.join(',')} `);
    }
  }
  return (r: number) => {
    const parts = new Array<string>(o.linesPerRequest);
    const firstLine = r * o.linesPerRequest;
    for (let i = 0; i < o.linesPerRequest; i++) {
      const line = firstLine + i;
      const h = line % o.hosts;
      const round = Math.floor(line / o.hosts);
      parts[i] = prefixes[h * variants + (round % variants)] + String(o.startTs + round * 1000);
    }
    return parts.join('\n');
  };
}
