/**
 * Counts the work a synchronous function does on strings, deterministically: every string and
 * regular-expression built-in it calls is charged for the characters it looks at (`charCodeAt`
 * one, `indexOf` the distance it searched, `slice` the length it copied, a regular expression the
 * length of its input …). A parser that is linear is charged about ten times as much for ten
 * times the input; one that searches past the end of each segment, a hundred times as much.
 * Unlike a clock, the count does not depend on the machine or its load, so a test of linear time
 * cannot flake.
 *
 * @example
 * ```ts
 * import { StringWork } from "@redial/testing"
 *
 * const parse = (input: string) => input.split(",").map((part) => part.trim())
 * const small = StringWork.work(() => parse("h,".repeat(10_000)))
 * const large = StringWork.work(() => parse("h,".repeat(100_000)))
 * if (large > 13 * small) throw new Error("not linear")
 * ```
 *
 * @since 0.1.0
 */
import * as internal from "./internal/stringWork.js"

/**
 * The work `f` does on strings while it runs, in characters looked at. The built-ins are patched
 * only while `f` runs (synchronously), and restored however it ends.
 *
 * @since 0.1.0
 * @category measuring
 */
export const work: (f: () => unknown) => number = internal.work
