/**
 * Reading the query parameters of a parsed connection string into typed options: each name is
 * compared with `normalizeKey`, each value decoded and checked, an unknown name refused.
 *
 * @internal
 */
import * as Arr from "effect/Array"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { RedialError } from "../../Errors.js"
import type * as Secrets from "./secrets.js"
import { quoteUnlessSecret } from "./secrets.js"
import { normalizeKey } from "./text.js"

/** @internal */
export interface Param<A> {
  /** The documented spelling: the name in messages and in printed strings. */
  readonly name: string
  /** What a valid value is, for the message: "`name` must be `expected`, got …". */
  readonly expected: string
  /** The value is a secret: never quoted. */
  readonly secret: boolean
  readonly decode: (value: string) => Option.Option<A>
}

/** @internal */
export const makeParam = <A>(
  name: string,
  options: {
    readonly expected: string
    readonly decode: (value: string) => Option.Option<A>
    readonly secret?: boolean | undefined
  }
): Param<A> => ({ name, expected: options.expected, decode: options.decode, secret: options.secret ?? false })

/** @internal */
export const booleanParam = (name: string, options?: { readonly ignoreCase?: boolean | undefined }): Param<boolean> =>
  makeParam(name, {
    expected: "true or false",
    decode: (value) => {
      const text = options?.ignoreCase === true ? value.toLowerCase() : value
      return text === "true" || text === "false" ? Option.some(text === "true") : Option.none()
    }
  })

/** @internal */
export const integerParam = (
  name: string,
  options: { readonly min: number; readonly max?: number | undefined; readonly expected?: string | undefined }
): Param<number> =>
  makeParam(name, {
    expected: options.expected ??
      (options.max === undefined
        ? `a whole number ≥ ${options.min}`
        : `a whole number in ${options.min}-${options.max}`),
    decode: (value) => {
      if (!/^-?[0-9]+$/.test(value)) return Option.none()
      const n = Number(value)
      return Number.isSafeInteger(n) && n >= options.min && (options.max === undefined || n <= options.max)
        ? Option.some(n === 0 ? 0 : n)
        : Option.none()
    }
  })

/** @internal */
export const nonEmptyParam = (
  name: string,
  options: { readonly what: string; readonly secret?: boolean | undefined }
): Param<string> =>
  makeParam(name, {
    expected: `a non-empty ${options.what}`,
    decode: (value) => value === "" ? Option.none() : Option.some(value),
    secret: options.secret
  })

/** @internal */
export const literalParam = <const L extends ReadonlyArray<string>>(
  name: string,
  literals: L,
  options?: { readonly normalize?: boolean | undefined }
): Param<L[number]> =>
  makeParam(name, {
    expected: `one of ${literals.join(", ")}`,
    decode: (value) => {
      if (options?.normalize !== true) return Arr.findFirst(literals, (literal) => literal === value)
      const wanted = normalizeKey(value)
      return Arr.findFirst(literals, (literal) => normalizeKey(literal) === wanted)
    }
  })

/** @internal */
export type ParamValues<P> = { readonly [K in keyof P]?: P[K] extends Param<infer A> ? A : never }

/** @internal */
export class ParamError extends RedialError("ParamError")<{
  readonly reason: "UnknownKey" | "InvalidValue"
  /** The parameter: its documented name for `InvalidValue`, the name as written for `UnknownKey`
   * (absent when it holds a secret). */
  readonly key?: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    return `Invalid connection string: ${this.detail}`
  }
}

/** @internal */
export const readParams = <P extends Record<string, Param<unknown>>>(
  params: ReadonlyArray<readonly [string, string]>,
  spec: P,
  options: { readonly label: string; readonly secrets: Secrets.Secrets }
): Either.Either<ParamValues<P>, ParamError> => {
  const entries = Object.entries(spec) as ReadonlyArray<readonly [keyof P, Param<unknown>]>
  const byName = new Map(entries.map((entry) => [normalizeKey(entry[1].name), entry] as const))
  const values: Partial<Record<keyof P, unknown>> = {}
  for (const [name, value] of params) {
    const entry = byName.get(normalizeKey(name))
    if (entry === undefined) {
      const shown = quoteUnlessSecret(name, options.secrets)
      return Either.left(
        new ParamError({
          reason: "UnknownKey",
          detail: `unknown option ${shown} in ${options.label}; the options are ${
            entries.map(([, param]) => param.name).join(", ")
          } (names ignore case, "_" and "-")`,
          ...(options.secrets.contains(name) ? {} : { key: name })
        })
      )
    }
    const [field, param] = entry
    const decoded = param.decode(value)
    if (Option.isNone(decoded)) {
      return Either.left(
        new ParamError({
          reason: "InvalidValue",
          key: param.name,
          detail: param.secret
            ? `${param.name} must be ${param.expected} (the value is a secret and is not shown)`
            : `${param.name} must be ${param.expected}, got ${quoteUnlessSecret(value, options.secrets)}`
        })
      )
    }
    values[field] = decoded.value
  }
  return Either.right(values as ParamValues<P>)
}
