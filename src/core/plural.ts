/**
 * A count with its noun, singular for one and plural otherwise ("1 bank", "2 branches"), for the
 * summaries that name several counts in a row ("1 banks" was printed before it).
 */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
