/** @internal */
import * as Duration from "effect/Duration"
import { InvalidOption } from "../Errors.js"

const describe = (input: unknown): string =>
  typeof input === "number" || typeof input === "bigint"
    ? String(input)
    : typeof input === "string"
    ? JSON.stringify(input)
    : typeof input

/** @internal */
export const positiveDuration = (
  option: string,
  input: Duration.DurationInput,
  options?: { readonly finite?: boolean }
): Duration.Duration => {
  const decoded = Duration.decodeUnknown(input)
  if (decoded._tag === "None") {
    throw new InvalidOption({ option, reason: "Invalid", detail: `must be a duration (got ${describe(input)})` })
  }
  const millis = Duration.toMillis(decoded.value)
  if (!(millis > 0)) {
    throw new InvalidOption({
      option,
      reason: "OutOfRange",
      detail: `must be a positive duration (got ${Duration.format(decoded.value)})`
    })
  }
  if (options?.finite && !Number.isFinite(millis)) {
    throw new InvalidOption({ option, reason: "OutOfRange", detail: "must be a finite duration (got infinity)" })
  }
  return decoded.value
}
