/**
 * Whether a host (as core's grammar gives it) is a DNS name or an IPv4 address: core's grammar
 * takes any text without delimiters as a host, so `h;x` or `h&heartbeat=5` (a string missing its
 * `?`) would be one, and fail later in a DNS lookup. Shared by the adapters' parsers.
 *
 * @internal
 */
import * as net from "node:net"
import * as url from "node:url"

const isAscii = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) return false
  }
  return true
}

const isLabelChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95

/** The host as it is dialled: a name in another script in its ASCII (punycode) form, `""` if it has none. @internal */
export const toAscii = (host: string): string => isAscii(host) ? host : url.domainToASCII(host)

/**
 * Why `host` is not a DNS name (RFC 1123 labels, `_` allowed, internationalized names in their
 * ASCII form) or an IPv4 address, or `undefined` when it is one. `explain` may give a character
 * its own message (a `;` in a string that allows one host).
 *
 * @internal
 */
export const hostNameProblem = (
  host: string,
  explain?: (char: string) => string | undefined
): string | undefined => {
  if (host.length === 0) return "it is empty"
  if (host.length > 253) return "it is longer than 253 characters"
  const ascii = toAscii(host)
  if (ascii === "") return "it is not a valid internationalized host name"
  if (/^[0-9.]+$/.test(ascii)) {
    return net.isIPv4(ascii) ? undefined : "it is not a valid IPv4 address (a host name does not end in a number)"
  }
  for (let i = 0; i < ascii.length; i++) {
    const c = ascii.charCodeAt(i)
    if (!isLabelChar(c) && c !== 46) {
      const char = ascii.charAt(i)
      if (char === "=" || char === "&") return `${JSON.stringify(char)} is not allowed (options go after "?")`
      return explain?.(char) ?? `${JSON.stringify(char)} is not allowed`
    }
  }
  if (ascii.length > 253) return "it is longer than 253 characters"
  for (const label of ascii.split(".")) {
    if (label.length === 0) return "it has an empty label (\"..\", or a \".\" at the start or end)"
    if (label.length > 63) return "a label is longer than 63 characters"
    if (label.startsWith("-") || label.endsWith("-")) return "a label starts or ends with \"-\""
  }
  return undefined
}
