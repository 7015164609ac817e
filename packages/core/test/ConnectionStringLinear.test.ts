import { describe, expect, it } from "@effect/vitest"
import { StringWork } from "@redial/testing"
import { Either, Schema } from "effect"
import * as ConnectionString from "../src/ConnectionString.js"

const work = StringWork.work

/** Inputs of about `n` characters, each repeating one segment that the parser scans. */
const shapes: ReadonlyArray<readonly [string, (n: number) => string]> = [
  ["hosts", (n) => `esdb://${"h,".repeat(n / 2)}h`],
  ["hosts with ports", (n) => `esdb://${"h:1,".repeat(n / 4)}h`],
  ["IPv6 hosts", (n) => `esdb://${"[::1],".repeat(n / 6)}[::1]`],
  ["query names", (n) => `esdb://h?${"x&".repeat(n / 2)}x`],
  ["query pairs", (n) => `esdb://h?${"a=1&".repeat(n / 4)}a=1`],
  ["secret options", (n) => `amqp://h?${"token=k&".repeat(n / 8)}token=k`],
  ["a broken query after secret options", (n) => `amqp://h?${"token=k&".repeat(n / 8)}x=%zz`],
  ["percent-escapes in the path", (n) => `pg://h/${"%20".repeat(n / 3)}`],
  ["a user:password without @host", (n) => `amqp://guest:${"s".repeat(n)}`],
  ["a password with raw @", (n) => `amqp://u:${"p@".repeat(n / 2)}h`],
  ["a long host then a bad port", (n) => `pg://${"h".repeat(n)}:x`]
]

const operations: ReadonlyArray<readonly [string, (input: string) => unknown]> = [
  ["parseEither", ConnectionString.parseEither],
  ["redact", (input) => ConnectionString.redact(input)],
  ["FromString", Schema.decodeUnknownEither(ConnectionString.FromString)],
  ["format", (input) => Either.map(ConnectionString.parseEither(input), ConnectionString.format)]
]

describe("ConnectionString: linear time", () => {
  // Counted work, not time: 10 × the input costs ~10 × the work when linear, ~100 × when quadratic.
  for (const [shape, make] of shapes) {
    for (const [name, operation] of operations) {
      it(`${name}: ${shape}`, () => {
        const small = work(() => operation(make(10_000)))
        const large = work(() => operation(make(100_000)))
        expect(small).toBeGreaterThan(0)
        expect(large / small).toBeLessThan(13)
      })
    }
  }

  it("a message quotes at most 64 characters of any text, however long it is", () => {
    const result = ConnectionString.parseEither(`pg://${"h".repeat(100_000)} :1`)
    if (Either.isRight(result)) throw new Error("expected a failure")
    expect(result.left.message.length).toBeLessThan(300)
    expect(result.left.message).toContain("(100001 characters)")
  })
})
