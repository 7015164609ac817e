/**
 * Validating the options of a constructor, so that every package rejects a bad value the same way:
 * with an `InvalidOption` that names the option and says what is wrong.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as internal from "./internal/options.js"

/**
 * Decodes a duration option that must be positive (and finite with `{ finite: true }`); throws an
 * `InvalidOption` naming `option` otherwise. Meant for constructors, which turn the throw into a
 * typed failure (`Effect.try`).
 *
 * @example
 * ```ts
 * import { Options } from "@redial/core"
 *
 * Options.positiveDuration("queueTarget", "50 millis") // Duration
 * Options.positiveDuration("queueTarget", 0) // throws InvalidOption: Invalid option "queueTarget": must be a positive duration (got 0)
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const positiveDuration: (
  option: string,
  input: Duration.DurationInput,
  options?: { readonly finite?: boolean }
) => Duration.Duration = internal.positiveDuration
