/** The number after `name` (e.g. `--runs`) on the command line, or undefined when absent. */
export function numberArg(
  name: string,
  argv: readonly string[] = process.argv,
): number | undefined {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : undefined;
}
