// Event Grid's client group query language, for mqtt.clientGroups and GET /devices?filter=.
// Pure: parsed once (config validation, a request), then evaluated against a client.
//
// What Event Grid documents (learn.microsoft.com, "Client groups", "How to create client group
// queries") and gridgate accepts:
//   attributes.KEY and authenticationName as operands (the authentication name is the device id);
//   = , != and <> , < > <= >= (integers only), IN [v, ...] (also IN (v, ...));
//   'single' or "double" quoted strings ('' or "" inside one is the quote), integers;
//   AND, OR (AND binds tighter; keywords in any case), parentheses.
//     attributes.role = 'monitor'
//     (attributes.sensors = "motion" OR attributes.sensors = "humidity") OR attributes.type = "home-sensors"
//     attributes.sensors IN ['motion', 'humidity'] AND attributes.floor <= 5
//     authenticationName IN ['client1', 'client2']
// Event Grid has no NOT; neither has this.
//
// Meaning, where Event Grid's documentation leaves it open (attributes here are strings):
// - A string compares exactly (case-sensitive) with the attribute's value.
// - An integer compares numerically with an attribute that is an integer ('05' = 5); with any
//   other value, or a missing attribute, =, <, >, <=, >= and IN are false.
// - `a != v` (or `a <> v`) is exactly NOT (a = v): true when the attribute is missing.

export interface QueryClient {
  /** The client's authentication name (for a device: its id). */
  authenticationName: string
  attributes: Readonly<Record<string, string>>
}

export interface ClientQuery {
  /** The query as written. */
  readonly text: string
  matches: (client: QueryClient) => boolean
}

export type ParsedQuery = { ok: true, query: ClientQuery } | { ok: false, error: string }

/** Longest query accepted: a config line or an URL parameter, not a program. */
export const MAX_QUERY_LENGTH = 2048
const MAX_DEPTH = 32
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,64}$/

type Literal = string | number
type Operand = { kind: 'attribute', name: string } | { kind: 'authenticationName' }
type Node =
  | { kind: 'and' | 'or', left: Node, right: Node }
  | { kind: 'compare', operand: Operand, op: '=' | '!=' | '<' | '>' | '<=' | '>=', value: Literal }
  | { kind: 'in', operand: Operand, values: Literal[] }

type Token =
  | { kind: 'word', text: string, at: number }
  | { kind: 'string', value: string, at: number }
  | { kind: 'number', value: number, at: number }
  | { kind: 'symbol', text: string, at: number }
  | { kind: 'end', at: number }

class QueryError extends Error {
  constructor (message: string, at: number) {
    super(`at character ${at + 1}: ${message}`)
  }
}

const SYMBOLS = ['<=', '>=', '<>', '!=', '=', '<', '>', '(', ')', '[', ']', ',']

function tokenize (text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i] as string
    if (/\s/.test(c)) { i++; continue }
    if (c === "'" || c === '"') {
      let value = ''
      let j = i + 1
      for (;;) {
        if (j >= text.length) throw new QueryError(`the string starting here has no closing ${c}`, i)
        if (text[j] === c) {
          if (text[j + 1] === c) { value += c; j += 2; continue }
          break
        }
        value += text[j]
        j++
      }
      tokens.push({ kind: 'string', value, at: i })
      i = j + 1
      continue
    }
    const number = /^-?\d+/.exec(text.slice(i))
    if (number !== null) {
      const value = Number(number[0])
      if (!Number.isSafeInteger(value)) throw new QueryError(`${number[0]} is not an integer gridgate can compare`, i)
      tokens.push({ kind: 'number', value, at: i })
      i += number[0].length
      continue
    }
    const word = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(text.slice(i))
    if (word !== null) {
      tokens.push({ kind: 'word', text: word[0], at: i })
      i += word[0].length
      continue
    }
    const symbol = SYMBOLS.find((s) => text.startsWith(s, i))
    if (symbol === undefined) throw new QueryError(`unexpected '${c}'`, i)
    tokens.push({ kind: 'symbol', text: symbol, at: i })
    i += symbol.length
  }
  tokens.push({ kind: 'end', at: text.length })
  return tokens
}

function describeToken (t: Token): string {
  switch (t.kind) {
    case 'end': return 'the end of the query'
    case 'string': return `the string '${t.value}'`
    case 'number': return `the number ${t.value}`
    default: return `'${t.text}'`
  }
}

function parseTokens (tokens: Token[]): Node {
  let pos = 0
  const peek = (): Token => tokens[pos] as Token
  const next = (): Token => tokens[pos++] as Token
  const isKeyword = (t: Token, keyword: string): boolean => t.kind === 'word' && t.text.toUpperCase() === keyword
  const isSymbol = (t: Token, symbol: string): boolean => t.kind === 'symbol' && t.text === symbol

  function orExpr (depth: number): Node {
    let left = andExpr(depth)
    while (isKeyword(peek(), 'OR')) { next(); left = { kind: 'or', left, right: andExpr(depth) } }
    return left
  }

  function andExpr (depth: number): Node {
    let left = primary(depth)
    while (isKeyword(peek(), 'AND')) { next(); left = { kind: 'and', left, right: primary(depth) } }
    return left
  }

  function primary (depth: number): Node {
    const t = peek()
    if (isSymbol(t, '(')) {
      if (depth >= MAX_DEPTH) throw new QueryError(`parentheses nest deeper than ${MAX_DEPTH}`, t.at)
      next()
      const inner = orExpr(depth + 1)
      const close = next()
      if (!isSymbol(close, ')')) throw new QueryError(`expected ')' but found ${describeToken(close)}`, close.at)
      return inner
    }
    return comparison()
  }

  function operand (): Operand {
    const t = next()
    if (t.kind === 'word') {
      if (t.text.toLowerCase() === 'authenticationname') return { kind: 'authenticationName' }
      if (t.text.toLowerCase().startsWith('attributes.')) {
        const name = t.text.slice('attributes.'.length)
        if (!ATTRIBUTE_NAME.test(name)) throw new QueryError(`'${name}' is not an attribute name (1-64 letters, digits, '_', '.', '-')`, t.at)
        return { kind: 'attribute', name }
      }
      if (t.text.toUpperCase() === 'NOT') throw new QueryError('NOT is not part of the query language: use != or <>', t.at)
    }
    throw new QueryError(`expected attributes.NAME or authenticationName but found ${describeToken(t)}`, t.at)
  }

  function literal (): Literal {
    const t = next()
    if (t.kind === 'string' || t.kind === 'number') return t.value
    throw new QueryError(`expected a quoted string or an integer but found ${describeToken(t)}`, t.at)
  }

  function comparison (): Node {
    const left = operand()
    const t = next()
    if (isKeyword(t, 'IN')) {
      const open = next()
      const close = isSymbol(open, '[') ? ']' : isSymbol(open, '(') ? ')' : undefined
      if (close === undefined) throw new QueryError(`expected '[' after IN but found ${describeToken(open)}`, open.at)
      const values = [literal()]
      for (;;) {
        const sep = next()
        if (isSymbol(sep, close)) break
        if (!isSymbol(sep, ',')) throw new QueryError(`expected ',' or '${close}' but found ${describeToken(sep)}`, sep.at)
        values.push(literal())
      }
      return { kind: 'in', operand: left, values }
    }
    if (t.kind !== 'symbol' || !['=', '!=', '<>', '<', '>', '<=', '>='].includes(t.text)) {
      throw new QueryError(`expected an operator (=, !=, <>, <, >, <=, >=, IN) but found ${describeToken(t)}`, t.at)
    }
    const op = t.text === '<>' ? '!=' : t.text as '=' | '!=' | '<' | '>' | '<=' | '>='
    const valueAt = peek().at
    const value = literal()
    if (op !== '=' && op !== '!=' && typeof value !== 'number') throw new QueryError(`'${t.text}' compares integers: the value must be an integer`, valueAt)
    return { kind: 'compare', operand: left, op, value }
  }

  const root = orExpr(0)
  const rest = peek()
  if (rest.kind !== 'end') {
    throw new QueryError(`expected AND, OR or the end of the query but found ${describeToken(rest)}`, rest.at)
  }
  return root
}

function valueOf (operand: Operand, client: QueryClient): string | undefined {
  if (operand.kind === 'authenticationName') return client.authenticationName
  // Own properties only: '__proto__' or 'constructor' must not resolve to Object's.
  return Object.hasOwn(client.attributes, operand.name) ? client.attributes[operand.name] : undefined
}

const INTEGER = /^-?\d+$/

function equals (actual: string | undefined, expected: Literal): boolean {
  if (actual === undefined) return false
  if (typeof expected === 'string') return actual === expected
  return INTEGER.test(actual) && Number(actual) === expected
}

function evaluate (node: Node, client: QueryClient): boolean {
  switch (node.kind) {
    case 'and': return evaluate(node.left, client) && evaluate(node.right, client)
    case 'or': return evaluate(node.left, client) || evaluate(node.right, client)
    case 'in': {
      const actual = valueOf(node.operand, client)
      return node.values.some((v) => equals(actual, v))
    }
    case 'compare': {
      const actual = valueOf(node.operand, client)
      if (node.op === '=') return equals(actual, node.value)
      if (node.op === '!=') return !equals(actual, node.value)
      if (actual === undefined || !INTEGER.test(actual)) return false
      const a = Number(actual)
      const b = node.value as number
      return node.op === '<' ? a < b : node.op === '>' ? a > b : node.op === '<=' ? a <= b : a >= b
    }
  }
}

/** Parses a client group query; the error names the character where it went wrong. */
export function parseClientQuery (text: string): ParsedQuery {
  if (text.length > MAX_QUERY_LENGTH) return { ok: false, error: `the query is longer than ${MAX_QUERY_LENGTH} characters` }
  if (text.trim() === '') return { ok: false, error: 'the query is empty' }
  try {
    const root = parseTokens(tokenize(text))
    return { ok: true, query: Object.freeze({ text, matches: (client: QueryClient) => evaluate(root, client) }) }
  } catch (err) {
    if (err instanceof QueryError) return { ok: false, error: err.message }
    throw err
  }
}
