/** Setting values needed to declare flags, without loading the zod schemas of settings.ts. */
export const PROTOCOLS = ['spar-v2', 'spar-v1', 'g2p-connect'] as const;
export const OUTPUT_FORMATS = ['table', 'json', 'jsonl', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The format a string names (SPARCTL_OUTPUT, an -o value), or undefined. */
export function outputFormatNamed(value: string | undefined): OutputFormat | undefined {
  const name = value?.trim() ?? '';
  return (OUTPUT_FORMATS as readonly string[]).includes(name) ? (name as OutputFormat) : undefined;
}
