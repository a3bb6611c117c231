/** A fake whose every member throws unless the test gave it: a call the use case should not make fails the test. */
export function strict<T extends object>(name: string, given: Partial<T>, optional: readonly (keyof T)[] = []): T {
  return new Proxy(given as T, {
    get(target, key) {
      if (key in target) return (target as Record<PropertyKey, unknown>)[key];
      if ((optional as readonly PropertyKey[]).includes(key)) return undefined; // an optional member left out
      if (key === 'then') return undefined; // not a promise
      throw new Error(`unexpected call: ${name}.${String(key)}`);
    },
  });
}
