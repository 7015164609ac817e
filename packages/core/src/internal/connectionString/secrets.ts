/**
 * Secrets of connection strings: which texts hold one, quoting that never shows one, and
 * masking them in a raw input.
 *
 * @internal
 */
import { quote } from "./text.js"

/** @internal */
export const SecretsTypeId: unique symbol = Symbol.for("@redial/core/ConnectionString/Secrets")

/** @internal */
export interface Secrets {
  readonly [SecretsTypeId]: typeof SecretsTypeId
  /** The secrets themselves, without duplicates or empty ones. */
  readonly size: number
  /** Whether `text` contains any of the secrets. */
  readonly contains: (text: string) => boolean
  /** `text` with every stretch covered by a secret replaced by `***`. */
  readonly mask: (text: string) => string
}

/**
 * An Aho-Corasick automaton over UTF-16 code units: one pass over a text finds every secret in
 * it, however many secrets there are. (`secrets.some((s) => text.includes(s))` costs the number
 * of secrets times the text, quadratic when a string repeats a secret option.)
 */
class Automaton implements Secrets {
  readonly [SecretsTypeId]: typeof SecretsTypeId = SecretsTypeId
  readonly size: number
  /** Edges, keyed `node * 0x10000 + code unit`. */
  private readonly edges = new Map<number, number>()
  private readonly fail: Int32Array
  /** The length of the longest secret that ends at a node (its own or one through its fail links), or 0. */
  private readonly longest: Int32Array

  constructor(secrets: ReadonlyArray<string>) {
    const total = secrets.reduce((n, s) => n + s.length, 0)
    this.fail = new Int32Array(total + 1)
    this.longest = new Int32Array(total + 1)
    const firstChild = new Int32Array(total + 1).fill(-1)
    const nextSibling = new Int32Array(total + 1).fill(-1)
    const codeOf = new Uint16Array(total + 1)
    let nodes = 1
    let size = 0
    for (const secret of secrets) {
      let node = 0
      for (let i = 0; i < secret.length; i++) {
        const code = secret.charCodeAt(i)
        const key = node * 0x10000 + code
        let next = this.edges.get(key)
        if (next === undefined) {
          next = nodes++
          this.edges.set(key, next)
          codeOf[next] = code
          nextSibling[next] = firstChild[node] ?? -1
          firstChild[node] = next
        }
        node = next
      }
      if (this.longest[node] === 0) size++
      this.longest[node] = secret.length
    }
    this.size = size
    // Breadth first, so that a node's fail link is final before its children's are computed.
    const queue = new Int32Array(nodes)
    let head = 0
    let tail = 0
    for (let child = firstChild[0] ?? -1; child !== -1; child = nextSibling[child] ?? -1) queue[tail++] = child
    while (head < tail) {
      const node = queue[head++] ?? 0
      const fallback = this.longest[this.fail[node] ?? 0] ?? 0
      if (fallback > (this.longest[node] ?? 0)) this.longest[node] = fallback
      for (let child = firstChild[node] ?? -1; child !== -1; child = nextSibling[child] ?? -1) {
        this.fail[child] = this.step(this.fail[node] ?? 0, codeOf[child] ?? 0)
        queue[tail++] = child
      }
    }
  }

  /** The node reached from `node` on `code`, following fail links. */
  private step(node: number, code: number): number {
    for (;;) {
      const next = this.edges.get(node * 0x10000 + code)
      if (next !== undefined) return next
      if (node === 0) return 0
      node = this.fail[node] ?? 0
    }
  }

  contains(text: string): boolean {
    if (this.size === 0) return false
    let node = 0
    for (let i = 0; i < text.length; i++) {
      node = this.step(node, text.charCodeAt(i))
      if ((this.longest[node] ?? 0) > 0) return true
    }
    return false
  }

  mask(text: string): string {
    if (this.size === 0) return text
    // Matches end in increasing order; a match that starts before the last stretch covers it.
    const starts: Array<number> = []
    const ends: Array<number> = []
    let node = 0
    for (let i = 0; i < text.length; i++) {
      node = this.step(node, text.charCodeAt(i))
      const length = this.longest[node] ?? 0
      if (length === 0) continue
      const start = i + 1 - length
      while (starts.length > 0 && (starts[starts.length - 1] ?? 0) >= start) {
        starts.pop()
        ends.pop()
      }
      if (ends.length > 0 && (ends[ends.length - 1] ?? 0) >= start) {
        ends[ends.length - 1] = i + 1
      } else {
        starts.push(start)
        ends.push(i + 1)
      }
    }
    let out = ""
    let from = 0
    for (let k = 0; k < starts.length; k++) {
      out += `${text.slice(from, starts[k])}***`
      from = ends[k] ?? 0
    }
    return out + text.slice(from)
  }
}

/** @internal */
export const make = (secrets: Iterable<string>): Secrets =>
  new Automaton(Array.from(secrets).filter((secret) => secret.length > 0))

/** @internal */
export const empty: Secrets = make([])

/** What a message says instead of a text that holds a secret. @internal */
export const hiddenText = "a value that contains a secret of this string (not shown)"

/** `text` quoted, or {@link hiddenText} when it contains one of `secrets`. @internal */
export const quoteUnlessSecret = (text: string, secrets: Secrets): string =>
  secrets.contains(text) ? hiddenText : quote(text)
