import { type DestinationStream, type Level, type Logger, pino } from 'pino';
import { CountError } from '../model/errors.js';

/**
 * Structured logs (pino, one JSON object per line). The level spec is a default level plus
 * optional per-module overrides: `info`, `debug`, `info,http=warn,storage=debug`. Each part of
 * the server logs through `moduleLogger(root, levels, 'http')`, which carries `module` in every
 * line and its own level.
 */
export interface LogLevels {
  level: Level;
  modules: Record<string, Level>;
}

const LEVELS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const SILENT = 'silent';

export function parseLogLevels(spec: string, field = 'log-level'): LogLevels {
  const result: LogLevels = { level: 'info', modules: {} };
  const parts = spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (parts.length === 0) throw invalid(spec, field);
  for (const part of parts) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? '' : part.slice(0, eq).trim();
    const level = (eq < 0 ? part : part.slice(eq + 1)).trim().toLowerCase();
    if (!LEVELS.has(level) && level !== SILENT) throw invalid(spec, field);
    if (eq < 0) result.level = level as Level;
    else if (/^[a-z][a-z0-9_-]*$/.test(name)) result.modules[name] = level as Level;
    else throw invalid(spec, field);
  }
  return result;
}

function invalid(spec: string, field: string): CountError {
  return new CountError(
    'invalid_parameter',
    `${field} must be a level (fatal, error, warn, info, debug, trace, silent) optionally followed by module=level overrides, e.g. "info,http=debug"; got ${JSON.stringify(spec)}`,
    { field },
  );
}

/** The root logger; `destination` defaults to stdout (tests pass a stream to capture lines). */
export function createRootLogger(
  levels: LogLevels,
  base: Record<string, unknown>,
  destination?: DestinationStream,
): Logger {
  // The root lets everything through that any module wants; children filter to their level.
  const all = [levels.level, ...Object.values(levels.modules)];
  const lowest = all.reduce((a, b) => (levelValue(a) <= levelValue(b) ? a : b));
  const options = { level: lowest, base, timestamp: pino.stdTimeFunctions.isoTime };
  return destination === undefined ? pino(options) : pino(options, destination);
}

export function moduleLogger(root: Logger, levels: LogLevels, module: string): Logger {
  return root.child({ module }, { level: levels.modules[module] ?? levels.level });
}

function levelValue(level: string): number {
  return level === SILENT ? Number.POSITIVE_INFINITY : pino.levels.values[level];
}
