/** @internal */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { InvalidOption, type InvalidOptionReason } from "../Errors.js"

/** What is wrong with a value, as a decoder of this module reports it. @internal */
export interface Issue {
  readonly reason?: InvalidOptionReason | undefined
  readonly detail: string
  readonly option?: string | undefined
}

/** @internal */
export interface DecodeOptions {
  readonly prefix?: string | undefined
  readonly onExcessProperty?: "ignore" | "error" | undefined
}

// An issue made on one of these ASTs carries a `reason` and a message written by this module (or
// by a `check`), which never quotes a string input. Any other issue is described from its schema.
const IssueId = Symbol.for("@redial/core/Options/Issue")

const reasons: ReadonlyArray<InvalidOptionReason> = ["Invalid", "OutOfRange", "Conflict", "Unsupported", "Missing"]

const markers = Object.fromEntries(
  reasons.map((reason) => [reason, AST.annotations(AST.unknownKeyword, { [IssueId]: reason })])
) as Record<InvalidOptionReason, AST.AST>

const reasonOf = (ast: AST.AST): InvalidOptionReason | undefined => {
  const reason = ast.annotations[IssueId]
  return reasons.find((r) => r === reason)
}

const toParseIssue = (issue: Issue, actual: unknown): ParseResult.ParseIssue => {
  const leaf = new ParseResult.Type(markers[issue.reason ?? "Invalid"], actual, issue.detail)
  const path = issue.option === undefined || issue.option.length === 0 ? [] : issue.option.split(".")
  return path.length === 0 ? leaf : new ParseResult.Pointer(path as [string, ...Array<string>], actual, leaf)
}

const invalid = (detail: string): Either.Either<never, Issue> => Either.left({ reason: "Invalid", detail })
const outOfRange = (detail: string): Either.Either<never, Issue> => Either.left({ reason: "OutOfRange", detail })

/**
 * A value as it may appear in a message: numbers, booleans and durations as they are (NaN as
 * "NaN"); a string never, whatever it holds, since it may be a secret.
 *
 * @internal
 */
export const describe = (u: unknown): string => {
  switch (typeof u) {
    case "number":
    case "boolean":
    case "undefined":
      return String(u)
    case "bigint":
      return `${u}n`
    case "string":
      return "a string"
    case "symbol":
      return "a symbol"
    case "function":
      return "a function"
    default:
      return u === null
        ? "null"
        : Duration.isDuration(u)
        ? formatDuration(u)
        : Array.isArray(u)
        ? "an array"
        : "an object"
  }
}

/** `Duration.format`, with sub-millisecond values in ms ("0.4ms", not "400000ns"). @internal */
export const formatDuration = (duration: Duration.Duration): string => {
  if (!Duration.isFinite(duration)) return "infinity"
  const millis = Duration.toMillis(duration)
  return Number.isSafeInteger(millis) ? Duration.format(duration) : `${millis}ms`
}

const literalText = (literal: AST.LiteralValue): string =>
  typeof literal === "string" ? JSON.stringify(literal) : typeof literal === "bigint" ? `${literal}n` : String(literal)

const truncate = (text: string, max: number): string => text.length <= max ? text : `${text.slice(0, max - 1)}…`

/** What a schema expects, from the schema alone (never from the input). */
const expected = (ast: AST.AST): string => {
  const annotated = AST.getDescriptionAnnotation(ast).pipe(
    Option.orElse(() => AST.getTitleAnnotation(ast)),
    Option.orElse(() => AST.getIdentifierAnnotation(ast))
  )
  if (Option.isSome(annotated)) return truncate(annotated.value, 120)
  switch (ast._tag) {
    case "Literal":
      return literalText(ast.literal)
    case "Union": {
      // `Schema.optional` adds `undefined`, which is not worth saying.
      const members = ast.types.filter((member) => member._tag !== "UndefinedKeyword")
      return members.length === 1
        ? expected(members[0] as AST.AST)
        : truncate(`one of ${members.map(expected).join(", ")}`, 120)
    }
    case "TypeLiteral":
      return "an object"
    case "TupleType":
      return "an array"
    default:
      return truncate(String(ast), 120)
  }
}

const segment = (key: PropertyKey): string =>
  typeof key === "number" ? `[${key}]` : typeof key === "symbol" ? `[${String(key.description)}]` : truncate(key, 64)

/** `healthCheck.interval`, `address[1]`; the prefix first; "options" for the root. @internal */
export const formatPath = (prefix: string | undefined, path: ReadonlyArray<PropertyKey>): string => {
  let out = prefix ?? ""
  for (const key of path) {
    const text = segment(key)
    out = out.length === 0 || text.startsWith("[") ? `${out}${text}` : `${out}.${text}`
  }
  return out.length === 0 ? "options" : out
}

interface Found {
  readonly path: ReadonlyArray<PropertyKey>
  readonly reason: InvalidOptionReason
  readonly detail: string
}

const toArray = <A>(items: A | readonly [A, ...Array<A>]): readonly [A, ...Array<A>] =>
  Array.isArray(items) ? items as readonly [A, ...Array<A>] : [items as A]

/** The first leaf of an issue tree, and the path to it. */
const find = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): Found => {
  switch (issue._tag) {
    case "Pointer":
      return find(issue.issue, [...path, ...toArray(issue.path)])
    case "Composite": {
      const issues = toArray(issue.issues)
      if (issue.ast._tag !== "Union") return find(issues[0], path)
      // A union: the member the input got furthest into; when it matched none, the union itself.
      const deeper = issues.find((member) => member._tag !== "Type")
      return deeper === undefined
        ? { path, reason: "Invalid", detail: `must be ${expected(issue.ast)} (got ${describe(issue.actual)})` }
        : find(deeper, path)
    }
    case "Refinement":
    case "Transformation":
      return find(issue.issue, path)
    case "Type": {
      const reason = reasonOf(issue.ast)
      if (reason !== undefined && issue.message !== undefined) return { path, reason, detail: issue.message }
      return { path, reason: "Invalid", detail: `must be ${expected(issue.ast)} (got ${describe(issue.actual)})` }
    }
    case "Missing":
      return { path, reason: "Missing", detail: "is required" }
    case "Unexpected":
      return { path, reason: "Unsupported", detail: "is not a known option" }
    case "Forbidden":
      return { path, reason: "Invalid", detail: "cannot be checked synchronously" }
  }
}

/** @internal */
export const fromParseError = (
  error: ParseResult.ParseError,
  options?: { readonly prefix?: string | undefined }
): InvalidOption => {
  const found = find(error.issue, [])
  return new InvalidOption({
    option: formatPath(options?.prefix, found.path),
    reason: found.reason,
    detail: found.detail
  })
}

/** @internal */
export const decode = <A, I>(
  schema: Schema.Schema<A, I>,
  input: I,
  options?: DecodeOptions
): Either.Either<A, InvalidOption> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: options?.onExcessProperty ?? "ignore" })(
      input
    ),
    (error) => fromParseError(error, options)
  )

/** @internal */
export const decodeEffect = <A, I>(
  schema: Schema.Schema<A, I>,
  input: I,
  options?: DecodeOptions
): Effect.Effect<A, InvalidOption> => Effect.suspend(() => decode(schema, input, options))

/** @internal */
export const decodeSync = <A, I>(schema: Schema.Schema<A, I>, input: I, options?: DecodeOptions): A =>
  Either.getOrThrowWith(decode(schema, input, options), identity)

/**
 * A schema from a check of an unknown input. Its encoded side is declared `I`: the check accepts
 * any input, and every `A` it returns is an `I` (a `Duration` is a `DurationInput` …).
 */
const fromCheck = <A, I>(to: Schema.Schema<A>, check: (u: unknown) => Either.Either<A, Issue>): Schema.Schema<A, I> =>
  Schema.transformOrFail(Schema.Unknown, to, {
    strict: true,
    decode: (u) =>
      Either.match(u === undefined ? Either.left<Issue>({ reason: "Missing", detail: "is required" }) : check(u), {
        onLeft: (issue) => ParseResult.fail(toParseIssue(issue, u)),
        onRight: ParseResult.succeed
      }),
    encode: ParseResult.succeed
  }) as Schema.Schema<A, unknown> as Schema.Schema<A, I>

/** @internal */
export const check =
  <A>(f: (value: A) => Issue | undefined) => <I, R>(self: Schema.Schema<A, I, R>): Schema.Schema<A, I, R> =>
    Schema.transformOrFail(self, Schema.typeSchema(self), {
      strict: true,
      decode: (value) => {
        const issue = f(value)
        return issue === undefined ? ParseResult.succeed(value) : ParseResult.fail(toParseIssue(issue, value))
      },
      encode: ParseResult.succeed
    })

// A duration as given, before its range is checked: negative values are kept apart, as
// Duration.decode turns them (and NaN) into zero.
type RawDuration = { readonly duration: Duration.Duration; readonly negative: boolean; readonly shown: string }

const DURATION_STRING = /^(-?\d+(?:\.\d+)?)\s+(nanos?|micros?|millis?|seconds?|minutes?|hours?|days?|weeks?)$/

const negative = (shown: string): Either.Either<RawDuration, Issue> =>
  Either.right({ duration: Duration.zero, negative: true, shown })

// Duration throws (converting to a bigint of nanoseconds) for a value too large for one, such as
// "1e400" written out, [1e300, 0] or 1e303 millis: such a value is infinite for every purpose here.
const decodeLarge = (input: Duration.DurationInput): Duration.Duration =>
  Option.getOrElse(Duration.decodeUnknown(input), () => Duration.infinity)

const decoded = (duration: Duration.Duration): Either.Either<RawDuration, Issue> => {
  const safe = Number.isFinite(Duration.toMillis(duration) * 1_000_000) || !Duration.isFinite(duration)
    ? duration
    : Duration.infinity
  return Either.right({ duration: safe, negative: false, shown: formatDuration(safe) })
}

const rawDuration = (u: unknown): Either.Either<RawDuration, Issue> => {
  if (Duration.isDuration(u)) return decoded(u)
  if (typeof u === "number") {
    if (Number.isNaN(u)) return invalid("must be a duration (got NaN)")
    return u < 0 ? negative(`${u}ms`) : decoded(Duration.millis(u))
  }
  if (typeof u === "bigint") return u < 0n ? negative(`${u}ns`) : decoded(Duration.nanos(u))
  if (typeof u === "string") {
    const match = DURATION_STRING.exec(u)
    if (match === null) return invalid(`must be a duration such as "5 seconds" (got a string that is not one)`)
    // Not quoted even when it parses: only its sign is reported.
    return Number(match[1]) < 0
      ? negative("a negative duration")
      : decoded(decodeLarge(u as Duration.DurationInput))
  }
  if (Array.isArray(u) && u.length === 2 && typeof u[0] === "number" && typeof u[1] === "number") {
    const [seconds, nanos] = u as [number, number]
    if (Number.isNaN(seconds) || Number.isNaN(nanos)) return invalid("must be a duration (got NaN)")
    if (seconds < 0 || nanos < 0) return negative(`[${seconds}, ${nanos}]`)
    return decoded(decodeLarge([seconds, nanos]))
  }
  return invalid(`must be a duration (got ${describe(u)})`)
}

/** @internal */
export interface DurationOptions {
  readonly min?: Duration.DurationInput | undefined
  readonly max?: Duration.DurationInput | undefined
  readonly finite?: boolean | undefined
}

/** @internal */
export const duration = (options: DurationOptions = {}): Schema.Schema<Duration.Duration, Duration.DurationInput> => {
  const min = options.min === undefined ? undefined : Duration.decode(options.min)
  const max = options.max === undefined ? undefined : Duration.decode(options.max)
  const finite = options.finite ?? true
  const lower = min === undefined
    ? "must be a positive duration"
    : Duration.isZero(min)
    ? "must not be negative"
    : `must be at least ${formatDuration(min)}`
  return fromCheck(
    Schema.DurationFromSelf,
    (u) =>
      Either.flatMap(rawDuration(u), ({ duration, negative, shown }): Either.Either<Duration.Duration, Issue> => {
        if (negative) return outOfRange(`${lower} (got ${shown})`)
        if (finite && !Duration.isFinite(duration)) return outOfRange("must be finite (got infinity)")
        if (min === undefined ? Duration.isZero(duration) : Duration.lessThan(duration, min)) {
          return outOfRange(`${lower} (got ${shown})`)
        }
        if (max !== undefined && Duration.greaterThan(duration, max)) {
          return outOfRange(`must be at most ${formatDuration(max)} (got ${shown})`)
        }
        return Either.right(duration)
      })
  )
}

/** @internal */
export interface NumberOptions {
  readonly min?: number | undefined
  readonly max?: number | undefined
}

const range = (n: number, options: NumberOptions): Either.Either<number, Issue> =>
  options.min !== undefined && n < options.min
    ? outOfRange(`must be at least ${options.min} (got ${n})`)
    : options.max !== undefined && n > options.max
    ? outOfRange(`must be at most ${options.max} (got ${n})`)
    : Either.right(n)

/** @internal */
export const integer = (options: NumberOptions = {}): Schema.Schema<number> =>
  fromCheck(Schema.Number, (u) =>
    typeof u === "number" && Number.isSafeInteger(u)
      ? range(u, options)
      : invalid(`must be a whole number (got ${describe(u)})`))

/** @internal */
export const number = (
  options: NumberOptions & { readonly finite?: boolean | undefined } = {}
): Schema.Schema<number> =>
  fromCheck(Schema.Number, (u) =>
    typeof u !== "number" || Number.isNaN(u)
      ? invalid(`must be a number (got ${describe(u)})`)
      : (options.finite ?? true) && !Number.isFinite(u)
      ? outOfRange(`must be finite (got ${u})`)
      : range(u, options))

/** @internal */
export const nonEmptyString: Schema.Schema<string> = fromCheck(Schema.String, (u) =>
  typeof u !== "string"
    ? invalid(`must be a string (got ${describe(u)})`)
    : u.length === 0
    ? invalid("must not be empty")
    : Either.right(u))

/** @internal */
export const boolean: Schema.Schema<boolean> = fromCheck(
  Schema.Boolean,
  (u) => typeof u === "boolean" ? Either.right(u) : invalid(`must be true or false (got ${describe(u)})`)
)

/** @internal */
export const literal = <const L extends ReadonlyArray<AST.LiteralValue>>(...literals: L): Schema.Schema<L[number]> => {
  const allowed = `must be one of ${literals.map(literalText).join(", ")}`
  return fromCheck(Schema.Literal(...literals), (u) =>
    literals.some((literal) => literal === u)
      ? Either.right(u as L[number])
      : invalid(typeof u === "string" ? allowed : `${allowed} (got ${describe(u)})`))
}

const anyDuration = duration({ finite: false })
const finiteDuration = duration()

/** @internal */
export const positiveDuration = (
  option: string,
  input: Duration.DurationInput,
  options?: { readonly finite?: boolean }
): Duration.Duration => decodeSync(options?.finite ? finiteDuration : anyDuration, input, { prefix: option })
