// Header and query-parameter templates with Secretless generic_http semantics: Go
// text/template actions over the service's credentials, e.g. `Bearer {{ .token }}` or
// `Basic {{ printf "%s:%s" .username .password | base64 }}`. Only the subset those
// configs use is accepted (variables, string literals, printf with %s, base64), and it
// is compiled at load time so an unknown variable is a config error, not a request
// that fails later. Pure: no I/O.

export type TemplatePart =
  | { type: 'text'; text: string }
  | { type: 'action'; pipeline: Command[] };

export type Command =
  | { type: 'var'; name: string }
  | { type: 'string'; value: string }
  | { type: 'call'; fn: 'printf' | 'base64'; args: Command[] };

export interface CompiledTemplate {
  parts: TemplatePart[];
  /** Credential keys the template reads. */
  variables: string[];
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

const FUNCTIONS = ['printf', 'base64'] as const;

export function compileTemplate(source: string): CompiledTemplate {
  const parts: TemplatePart[] = [];
  const variables = new Set<string>();
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    if (open < 0) {
      parts.push({ type: 'text', text: source.slice(at) });
      break;
    }
    const close = source.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError('unclosed action: a `{{` has no matching `}}`');
    let inner = source.slice(open + 2, close);
    // Go's trim markers: `{{- ` trims the whitespace before the action, ` -}}` the whitespace after.
    const trimBefore = /^-\s/.test(inner);
    const trimAfter = /\s-$/.test(inner);
    inner = inner.slice(trimBefore ? 2 : 0, trimAfter ? -2 : undefined);
    const text = source.slice(at, open);
    if (text) parts.push({ type: 'text', text: trimBefore ? text.trimEnd() : text });
    const pipeline = parsePipeline(tokenize(inner));
    for (const cmd of pipeline) collectVars(cmd, variables);
    parts.push({ type: 'action', pipeline });
    at = close + 2;
    if (trimAfter) while (at < source.length && /\s/.test(source[at]!)) at++;
  }
  return { parts, variables: [...variables] };
}

/** Renders with the credential values; `values` must hold every variable (checked at load). */
export function renderTemplate(t: CompiledTemplate, values: (name: string) => string | undefined): string {
  let out = '';
  for (const part of t.parts) {
    if (part.type === 'text') out += part.text;
    else out += runPipeline(part.pipeline, values);
  }
  return out;
}

function collectVars(cmd: Command, into: Set<string>): void {
  if (cmd.type === 'var') into.add(cmd.name);
  if (cmd.type === 'call') for (const a of cmd.args) collectVars(a, into);
}

type Token = { type: 'var'; name: string } | { type: 'string'; value: string } | { type: 'ident'; name: string } | { type: 'pipe' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      tokens.push({ type: 'pipe' });
      i++;
    } else if (c === '.') {
      const m = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
      if (!m) throw new TemplateError('expected a credential name after `.` (e.g. {{ .token }})');
      tokens.push({ type: 'var', name: m[1]! });
      i += m[0].length;
    } else if (c === '"' || c === '`') {
      const end = findStringEnd(text, i);
      const raw = text.slice(i, end + 1);
      tokens.push({ type: 'string', value: c === '`' ? raw.slice(1, -1) : (JSON.parse(raw) as string) });
      i = end + 1;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
      if (!m) throw new TemplateError(`unexpected character '${c}' in an action`);
      tokens.push({ type: 'ident', name: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

function findStringEnd(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  throw new TemplateError('unterminated string literal in an action');
}

function parsePipeline(tokens: Token[]): Command[] {
  const commands: Token[][] = [[]];
  for (const t of tokens) {
    if (t.type === 'pipe') commands.push([]);
    else commands[commands.length - 1]!.push(t);
  }
  if (commands.some((c) => c.length === 0)) throw new TemplateError('empty action or command (e.g. `{{ }}` or `| |`)');
  return commands.map((c, index) => parseCommand(c, index > 0));
}

function parseCommand(tokens: Token[], piped: boolean): Command {
  const [head, ...rest] = tokens as [Token, ...Token[]];
  if (head.type === 'ident') {
    if (!(FUNCTIONS as readonly string[]).includes(head.name)) throw new TemplateError(`unknown function '${head.name}': expected ${FUNCTIONS.join(', ')}`);
    const args = rest.map(argument);
    const fn = head.name as (typeof FUNCTIONS)[number];
    const count = args.length + (piped ? 1 : 0);
    if (fn === 'base64' && count !== 1) throw new TemplateError('base64 takes one argument');
    if (fn === 'printf' && (count < 1 || (!piped && args[0]!.type !== 'string'))) throw new TemplateError('printf needs a format string first');
    return { type: 'call', fn, args };
  }
  if (rest.length > 0 || piped) throw new TemplateError('only a function can take arguments or follow `|`');
  return argument(head);
}

function argument(t: Token): Command {
  if (t.type === 'var') return { type: 'var', name: t.name };
  if (t.type === 'string') return { type: 'string', value: t.value };
  throw new TemplateError(`'${t.type === 'ident' ? t.name : '|'}' cannot be an argument here`);
}

function runPipeline(pipeline: Command[], values: (name: string) => string | undefined): string {
  let result: string | undefined;
  for (const cmd of pipeline) result = run(cmd, values, result);
  return result ?? '';
}

function run(cmd: Command, values: (name: string) => string | undefined, piped?: string): string {
  if (cmd.type === 'string') return cmd.value;
  if (cmd.type === 'var') {
    const v = values(cmd.name);
    // Checked at load time; a provider that returned nothing is caught by the resolver.
    if (v === undefined) throw new TemplateError(`credential '${cmd.name}' has no value`);
    return v;
  }
  const args = cmd.args.map((a) => run(a, values));
  if (piped !== undefined) args.push(piped);
  if (cmd.fn === 'base64') return Buffer.from(args[0]!, 'utf8').toString('base64');
  return printf(args[0]!, args.slice(1));
}

/** Go's printf for the verbs templates use on strings: %s, %v, %q-less; %% is a percent. */
function printf(format: string, args: string[]): string {
  let next = 0;
  return format.replace(/%([%sv])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    return next < args.length ? args[next++]! : '%!s(MISSING)';
  });
}
