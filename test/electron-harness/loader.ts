// Module resolution hook (registered by harness.ts with node:module register()): the
// specifier `electron` resolves to the stand-in, for main.js and everything it imports.
const STANDIN = new URL('./standin.js', import.meta.url).href;

type Resolve = (specifier: string, context: unknown, next: (s: string, c: unknown) => Promise<unknown>) => Promise<unknown>;

export const resolve: Resolve = async (specifier, context, next) => {
  if (specifier === 'electron') return { url: STANDIN, shortCircuit: true, format: 'module' };
  return next(specifier, context);
};
