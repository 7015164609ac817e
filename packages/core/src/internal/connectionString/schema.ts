/**
 * A `Schema` from a connection string whose parse issues never hold the raw input.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * `issue` with every `actual` that is the raw `input` replaced by `shown`. Schema's own nodes
 * (the `Transformation` around a `transformOrFail`) record the input they were given.
 */
const hideInput = (issue: ParseResult.ParseIssue, input: string, shown: () => string): ParseResult.ParseIssue => {
  const actual = (value: unknown) => value === input ? shown() : value
  switch (issue._tag) {
    case "Type":
      return issue.actual === input ? new ParseResult.Type(issue.ast, shown(), issue.message) : issue
    case "Forbidden":
      return issue.actual === input ? new ParseResult.Forbidden(issue.ast, shown(), issue.message) : issue
    case "Transformation":
      return new ParseResult.Transformation(
        issue.ast,
        actual(issue.actual),
        issue.kind,
        hideInput(issue.issue, input, shown)
      )
    case "Refinement":
      return new ParseResult.Refinement(
        issue.ast,
        actual(issue.actual),
        issue.kind,
        hideInput(issue.issue, input, shown)
      )
    case "Pointer":
      return new ParseResult.Pointer(issue.path, actual(issue.actual), hideInput(issue.issue, input, shown))
    case "Composite": {
      const issues = Array.isArray(issue.issues)
        ? issue.issues.map((inner: ParseResult.ParseIssue) => hideInput(inner, input, shown))
        : hideInput(issue.issues as ParseResult.ParseIssue, input, shown)
      return new ParseResult.Composite(
        issue.ast,
        actual(issue.actual),
        issues as ParseResult.SingleOrNonEmpty<ParseResult.ParseIssue>,
        issue.output
      )
    }
    case "Missing":
    case "Unexpected":
      return issue
  }
}

/** @internal */
export const fromString = <A, I, R>(options: {
  readonly identifier: string
  /** The parsed value's schema; its type side is the target. */
  readonly to: Schema.Schema<A, I, R>
  readonly decode: (input: string) => Either.Either<A, { readonly message: string }>
  /** Prints a value so that it decodes back to the same value (secrets in clear). */
  readonly encode: (value: A) => string
  /** The input as an issue may hold it: without any secret. */
  readonly redact: (input: string) => string
}): Schema.Schema<A, string> => {
  const to = Schema.typeSchema(options.to)
  const transformation = Schema.transformOrFail(Schema.String, to, {
    strict: true,
    decode: (input, _, ast) =>
      Either.mapLeft(options.decode(input), (error) => new ParseResult.Type(ast, options.redact(input), error.message)),
    encode: (value) => ParseResult.succeed(options.encode(value))
  }).annotations({ identifier: options.identifier })
  // A declaration adds no node of its own to an issue, so the tree it returns can be rewritten
  // whole. Its one type parameter is the transformation: `Schema.typeSchema` of this schema
  // gives one over `to`, `Schema.encodedSchema` one over `Schema.String`, as for the
  // transformation itself.
  return Schema.declare([transformation], {
    decode: (inner) => {
      const decode = ParseResult.decodeUnknown(inner)
      return (input, parseOptions) =>
        Effect.mapError(decode(input, parseOptions), (issue) => {
          if (typeof input !== "string") return issue
          let shown: string | undefined
          return hideInput(issue, input, () => shown ??= options.redact(input))
        })
    },
    encode: (inner) => {
      const encode = ParseResult.encodeUnknown(inner)
      return (value, parseOptions) => encode(value, parseOptions)
    }
  }, {
    identifier: options.identifier,
    arbitrary: (inner) => inner,
    pretty: (inner) => inner,
    equivalence: (inner) => inner
  })
}
