/**
 * The KurrentDB client trims whitespace around the string, each host, each option name and each
 * option value (`parseConnectionString.ts`: `connectionString.trim()`, `host.trim()`,
 * `toflatCase` and `rawValue.trim()`), so a string may be written over several lines. This is
 * that trimming, done on the raw text before core's parser reads it (core's grammar has no
 * whitespace): one pass, linear in the input, never throwing.
 *
 * Whitespace around the user info goes too (`credentials.trim()`: a password that ends in a space
 * is written `%20`), but not inside a host entry: `host :2113` is an error, where the client would
 * read the host `"host "`. Inside an option value, a line break or tab is kept, percent-encoded
 * for core (`%0A`), as the client keeps it.
 *
 * @internal
 */

/** What `String.prototype.trim` removes: WhiteSpace and LineTerminator. */
const isSpace = (c: number): boolean =>
  c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff

const isSchemeChar = (c: number): boolean =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46

const hex = "0123456789ABCDEF"

/** The text core reads, and where each of its characters came from in the input. @internal */
export interface Trimmed {
  readonly text: string
  /** The position in the input of position `i` of `text` (the end maps to the input's end). */
  readonly position: (i: number) => number
}

const unchanged = (input: string): Trimmed => ({ text: input, position: (i) => i })

/** The first `code` in `input[start, end)`, or `end`. */
const indexIn = (input: string, code: number, start: number, end: number): number => {
  for (let i = start; i < end; i++) {
    if (input.charCodeAt(i) === code) return i
  }
  return end
}

/** The last `code` in `input[start, end)`, or -1. */
const lastIndexIn = (input: string, code: number, start: number, end: number): number => {
  for (let i = end - 1; i >= start; i--) {
    if (input.charCodeAt(i) === code) return i
  }
  return -1
}

/** The input without the whitespace at its ends. */
const shifted = (input: string, start: number, end: number): Trimmed => ({
  text: input.slice(start, end),
  position: (i) => Math.min(start + i, end)
})

const isBlank = (input: string, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) {
    if (!isSpace(input.charCodeAt(i))) return false
  }
  return true
}

/** The scheme of `input`, lowercased, after any leading whitespace; `""` when there is none. @internal */
export const schemeOf = (input: string): string => {
  let start = 0
  while (start < input.length && isSpace(input.charCodeAt(start))) start++
  let i = start
  while (i < input.length && isSchemeChar(input.charCodeAt(i))) i++
  return input.startsWith("://", i) ? input.slice(start, i).toLowerCase() : ""
}

/** @internal */
export const trim = (input: string): Trimmed => {
  let text = ""
  const from: Array<number> = []
  /** Appends `input[start, end)` as it is. */
  const keep = (start: number, end: number): void => {
    text += input.slice(start, end)
    for (let i = start; i < end; i++) from.push(i)
  }
  const add = (literal: string, at: number): void => {
    text += literal
    for (let i = 0; i < literal.length; i++) from.push(at)
  }
  /** Appends `input[start, end)` without the whitespace at both ends. */
  const keepTrimmed = (start: number, end: number, escapeControls: boolean): void => {
    while (start < end && isSpace(input.charCodeAt(start))) start++
    while (end > start && isSpace(input.charCodeAt(end - 1))) end--
    if (!escapeControls) return keep(start, end)
    let plain = start
    for (let i = start; i < end; i++) {
      const c = input.charCodeAt(i)
      if (c >= 9 && c <= 13) {
        keep(plain, i)
        add(`%${hex[c >> 4]}${hex[c & 15]}`, i)
        plain = i + 1
      }
    }
    keep(plain, end)
  }

  let start = 0
  let end = input.length
  while (start < end && isSpace(input.charCodeAt(start))) start++
  while (end > start && isSpace(input.charCodeAt(end - 1))) end--
  let i = start
  while (i < end && isSchemeChar(input.charCodeAt(i))) i++
  // Not "scheme://": nothing to trim inside; core says what is wrong.
  if (!input.startsWith("://", i)) {
    return start === 0 && end === input.length ? unchanged(input) : shifted(input, start, end)
  }
  const authorityStart = i + 3
  keep(start, authorityStart)

  const queryStart = indexIn(input, 63, authorityStart, end) // "?"
  const authorityEnd = indexIn(input, 47, authorityStart, queryStart) // "/"
  const at = lastIndexIn(input, 64, authorityStart, authorityEnd) // "@"
  let hostsStart = authorityStart
  if (at !== -1) {
    keepTrimmed(authorityStart, at, false)
    add("@", at)
    hostsStart = at + 1
  }
  for (let host = hostsStart; host <= authorityEnd;) {
    const comma = indexIn(input, 44, host, authorityEnd) // ","
    if (host > hostsStart) add(",", host - 1)
    keepTrimmed(host, comma, false)
    host = comma + 1
  }
  if (authorityEnd < queryStart) {
    add("/", authorityEnd)
    keepTrimmed(authorityEnd + 1, queryStart, false)
  }
  if (queryStart < end) {
    add("?", queryStart)
    let first = true
    for (let pair = queryStart + 1; pair <= end;) {
      const amp = indexIn(input, 38, pair, end) // "&"
      const eq = indexIn(input, 61, pair, amp) // "="
      // A pair that is only whitespace is dropped, as an empty one is.
      if (eq < amp || !isBlank(input, pair, amp)) {
        if (!first) add("&", pair - 1)
        first = false
        keepTrimmed(pair, eq, false)
        if (eq < amp) {
          add("=", eq)
          keepTrimmed(eq + 1, amp, true)
        }
      }
      pair = amp + 1
    }
  }
  if (text === input) return unchanged(input)
  return { text, position: (p) => from[p] ?? end }
}

/**
 * Whether the authority of `input` holds more than one raw "@". Core ends the user info at the
 * last one; the KurrentDB client at the first, so such a string means different credentials to
 * each. @internal
 */
export const hasSeveralAts = (input: string): boolean => {
  let i = 0
  while (i < input.length && isSchemeChar(input.charCodeAt(i))) i++
  if (!input.startsWith("://", i)) return false
  const authorityStart = i + 3
  const queryStart = indexIn(input, 63, authorityStart, input.length)
  const authorityEnd = indexIn(input, 47, authorityStart, queryStart)
  const last = lastIndexIn(input, 64, authorityStart, authorityEnd)
  return last !== -1 && indexIn(input, 64, authorityStart, last) < last
}

/**
 * Where text that may be a password starts in a string without user info: after the first ":" of
 * the authority (`user:password` reads as `host:port`), unless a "[" comes first; -1 when there
 * is none. Core's rule, for the hosts that core accepts and this package refuses. @internal
 */
export const suspectColon = (input: string): number => {
  let i = 0
  while (i < input.length && isSpace(input.charCodeAt(i))) i++
  while (i < input.length && isSchemeChar(input.charCodeAt(i))) i++
  if (!input.startsWith("://", i)) return -1
  const authorityStart = i + 3
  const queryStart = indexIn(input, 63, authorityStart, input.length)
  const authorityEnd = indexIn(input, 47, authorityStart, queryStart)
  if (indexIn(input, 64, authorityStart, authorityEnd) < authorityEnd) return -1
  const colon = indexIn(input, 58, authorityStart, authorityEnd)
  return colon < authorityEnd && indexIn(input, 91, authorityStart, colon) === colon ? colon : -1
}
