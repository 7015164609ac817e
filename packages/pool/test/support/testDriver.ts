/**
 * The pool's own tests use the package's `TestDriver` (src/TestDriver.ts). They were written
 * before it modelled an in-order protocol, so `make` here defaults to `inOrder: false`; pass
 * `inOrder: true` to check that nothing reaches a desynchronised connection.
 */
import * as TestDriver from "../../src/TestDriver.js"

export * from "../../src/TestDriver.js"

/** Makes a fake database; `inOrder` defaults to false here (see the module's comment). */
export const make = (options: TestDriver.Options = {}): ReturnType<typeof TestDriver.make> =>
  TestDriver.make({ inOrder: false, ...options })
