/**
 * What a host is, by the one rule `GrpcChannel.make` applies to addresses (`limits.isHost`): an
 * IPv4 address, an IPv6 address (here without brackets, with an optional zone), or a host name
 * of dot-separated labels of letters, digits, `-` and `_`. A name in another script
 * (`морда-кошки.ru`, which the KurrentDB client takes) is checked, and given to the channel, in
 * its ASCII (punycode) form. Core's grammar takes any text without delimiters as a host, so
 * `host1;host2` or `throwOnAppendFailure=false` (a string missing its `?`) would be one; here
 * they are errors, as in the KurrentDB client.
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as url from "node:url"
import { isHost } from "../limits.js"

const isAscii = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) return false
  }
  return true
}

/**
 * The host as a channel dials it: a name in another script in its punycode form (`xn--…`), `""`
 * when it has none; anything else as it is.
 *
 * @internal
 */
export const toAscii = (host: string): string => isAscii(host) ? host : url.domainToASCII(host)

const isLabelChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95

/** Why `isHost` refused a name, for the message: the first rule it breaks. */
const why = (host: string): string => {
  if (host.includes(":")) return "it is not a valid IPv6 address"
  if (/^[0-9.]+$/.test(host)) return "it is not a valid IPv4 address (a host name does not end in a number)"
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i)
    if (c < 0x80 && !isLabelChar(c) && c !== 46) {
      const char = host.charAt(i)
      if (char === ";") return "\";\" is not allowed (hosts are separated by \",\")"
      if (char === "=" || char === "&") return `${JSON.stringify(char)} is not allowed (options go after "?")`
      return `${JSON.stringify(char)} is not allowed`
    }
  }
  const ascii = toAscii(host)
  if (ascii.length > 253) return "it is longer than 253 characters"
  for (const label of ascii === "" ? [] : ascii.split(".")) {
    if (label.length === 0) return "it has an empty label (\"..\", or a \".\" at the start or end)"
    if (label.length > 63) return "a label is longer than 63 characters"
    if (label.startsWith("-") || label.endsWith("-")) return "a label starts or ends with \"-\""
  }
  return "it is not a host name (letters, digits, \"-\" and \"_\" in labels separated by \".\")"
}

/**
 * Why `host` is not a host name or an IP address, or `None` when it is one.
 *
 * @internal
 */
export const check = (host: string): Option.Option<string> => {
  if (host.length === 0) return Option.some("it is empty")
  // Longer than any name: say so without converting it.
  if (host.length > 253) return Option.some("it is longer than 253 characters")
  const ascii = toAscii(host)
  return ascii !== "" && isHost(ascii) ? Option.none() : Option.some(why(host))
}
