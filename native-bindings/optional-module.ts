// Loads optional native addons. They are imported by a computed specifier so the typecheck does not
// depend on them being installed (npm skips an optional dependency whose build fails), and their
// exports are checked at runtime before being treated as the small typed surface we use.

/** module.exports of a CommonJS package, or the namespace of an ES module. */
export async function importOptional(specifier: string): Promise<Record<string, unknown>> {
  const ns: unknown = await import(specifier);
  if (typeof ns !== 'object' || ns === null) throw new Error(`${specifier}: import returned no module`);
  const dflt: unknown = (ns as { default?: unknown }).default;
  // For CommonJS, `default` is module.exports and the only reliable view of an addon's exports.
  if ((typeof dflt === 'object' || typeof dflt === 'function') && dflt !== null) return dflt as Record<string, unknown>;
  return ns as Record<string, unknown>;
}

/** Checks that `mod` has every named function, then gives it the caller's interface. */
export function requireFunctions<T>(specifier: string, mod: Record<string, unknown>, names: readonly string[]): T {
  const missing = names.filter((n) => typeof mod[n] !== 'function');
  if (missing.length > 0) throw new Error(`${specifier} lacks ${missing.join(', ')} (unexpected version?)`);
  return mod as T;
}

/**
 * One line: Node's "Cannot find module" carries a "Require stack:" of paths on the lines after,
 * which in `engine doctor`'s list of rejected candidates would read as several reasons.
 */
export function errorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0]?.trim() ?? '';
}
