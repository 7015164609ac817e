/**
 * Text helpers of connection strings: bounded scans, percent-encoding and -decoding, key
 * normalisation and quoting. Every function here is linear in its input and never throws.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/**
 * Index of the first `char` in `input[start, end)`, or `end`. A bounded loop rather than
 * `indexOf`, which would search past `end` to the end of the input: called once per segment,
 * that made a parse quadratic.
 *
 * @internal
 */
export const indexIn = (input: string, char: string, start: number, end: number): number => {
  const code = char.charCodeAt(0)
  for (let i = start; i < end; i++) {
    if (input.charCodeAt(i) === code) return i
  }
  return end
}

/** How many `char` there are in `input[start, end)`. @internal */
export const countIn = (input: string, char: string, start: number, end: number): number => {
  const code = char.charCodeAt(0)
  let n = 0
  for (let i = start; i < end; i++) {
    if (input.charCodeAt(i) === code) n++
  }
  return n
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57

/** @internal */
export const isHex = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)

/** @internal */
export const isControl = (c: number): boolean => c < 0x20 || c === 0x7f

/** A UTF-16 code unit at `i` that is half of a surrogate pair with its other half missing. @internal */
export const isLoneSurrogate = (input: string, i: number): boolean => {
  const c = input.charCodeAt(i)
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = input.charCodeAt(i + 1)
    return !(next >= 0xdc00 && next <= 0xdfff)
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const previous = input.charCodeAt(i - 1)
    return !(previous >= 0xd800 && previous <= 0xdbff)
  }
  return false
}

/** @internal */
export interface DecodeFailure {
  readonly kind: "escape" | "utf8" | "char"
  readonly position: number
  readonly text: string
}

/**
 * Percent-decodes `input[start, end)`. `+` stays a literal `+`. Raw control characters and
 * unpaired surrogates are rejected, so every decoded value can be printed back exactly.
 *
 * @internal
 */
export const decode = (input: string, start: number, end: number): Either.Either<string, DecodeFailure> => {
  let out = ""
  let plain = start
  let i = start
  while (i < end) {
    const c = input.charCodeAt(i)
    if (c === 37) {
      out += input.slice(plain, i)
      // Decode a whole run of escapes at once: one character may span several bytes.
      const run = i
      while (i < end && input.charCodeAt(i) === 37) {
        if (i + 3 > end || !isHex(input.charCodeAt(i + 1)) || !isHex(input.charCodeAt(i + 2))) {
          return Either.left({ kind: "escape", position: i, text: input.slice(i, Math.min(i + 3, end)) })
        }
        i += 3
      }
      try {
        out += decodeURIComponent(input.slice(run, i))
      } catch {
        return Either.left({ kind: "utf8", position: run, text: input.slice(run, i) })
      }
      plain = i
    } else if (isControl(c) || isLoneSurrogate(input, i)) {
      return Either.left({ kind: "char", position: i, text: input.charAt(i) })
    } else {
      i++
    }
  }
  return Either.right(out + input.slice(plain, end))
}

/** Percent-decodes a whole text: `None` when it is malformed. Never throws. @internal */
export const decodeComponent = (text: string): Option.Option<string> => Either.getRight(decode(text, 0, text.length))

const isUnreserved = (c: number): boolean =>
  isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95 || c === 126

const hex = "0123456789ABCDEF"

const escapeByte = (b: number): string => `%${hex[b >> 4]}${hex[b & 15]}`

/**
 * Percent-encodes everything but unreserved characters, as UTF-8. An unpaired surrogate has no
 * UTF-8 form (`encodeURIComponent` throws on it): it is printed as U+FFFD. Never throws.
 *
 * @internal
 */
export const encode = (text: string): string => {
  let out = ""
  let plain = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (isUnreserved(c)) continue
    out += text.slice(plain, i)
    let code = c
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1)
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00)
        i++
      }
    }
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd
    if (code < 0x80) {
      out += escapeByte(code)
    } else if (code < 0x800) {
      out += escapeByte(0xc0 | (code >> 6)) + escapeByte(0x80 | (code & 63))
    } else if (code < 0x10000) {
      out += escapeByte(0xe0 | (code >> 12)) + escapeByte(0x80 | ((code >> 6) & 63)) + escapeByte(0x80 | (code & 63))
    } else {
      out += escapeByte(0xf0 | (code >> 18)) + escapeByte(0x80 | ((code >> 12) & 63)) +
        escapeByte(0x80 | ((code >> 6) & 63)) + escapeByte(0x80 | (code & 63))
    }
    plain = i + 1
  }
  return out + text.slice(plain)
}

/** @internal */
export const normalizeKey = (key: string): string => key.replace(/[-_]/g, "").toLowerCase()

/** Texts longer than this are cut in messages: a message stays readable whatever the input. @internal */
export const quoteLimit = 64

/**
 * `text` in double quotes (JSON escapes, so control characters and lone surrogates show as
 * escapes), cut to its first {@link quoteLimit} characters when longer.
 *
 * @internal
 */
export const quote = (text: string): string =>
  text.length <= quoteLimit
    ? JSON.stringify(text)
    : `${JSON.stringify(`${text.slice(0, quoteLimit)}…`)} (${text.length} characters)`

/** `host[:port]`, an IPv6 address in brackets with its zone's `%` encoded. @internal */
export const formatHost = (host: string, port: Option.Option<number>): string => {
  const name = host.includes(":") ? `[${host.replace(/%/g, "%25")}]` : host
  return Option.isSome(port) ? `${name}:${port.value}` : name
}
