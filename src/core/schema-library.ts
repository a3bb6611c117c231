/**
 * zod, loaded when the first schema is used: a schema is built by lazySchema at its first use.
 * Imported at start, zod (95 modules) cost every command 80-95 ms, and most runs never need a
 * schema: the fast checks in request-items.ts vouch for ordinary records, settings.ts's for
 * ordinary settings, mapping-fast-check.ts for ordinary mapping files, and zod stays the one
 * authority on everything else (and on every error).
 */
export type Zod = typeof import('zod').z;

let loadZod: (() => Zod) | undefined;
let zod: Zod | undefined;

/** How zod is loaded; each entry point (the CLI, serve, tests) sets it once (adapters/lazy-libraries.ts). */
export function setSchemaLibraryLoader(loader: () => Zod): void {
  loadZod = loader;
}

/** A function that builds the schemas with zod at its first call, and returns the same ones after. */
export function lazySchema<T>(build: (z: Zod) => T): () => T {
  let built: T | undefined;
  return () => {
    if (built !== undefined) return built;
    if (zod === undefined) {
      if (loadZod === undefined) throw new Error('a schema was used before setSchemaLibraryLoader');
      zod = loadZod();
    }
    built = build(zod);
    return built;
  };
}
