/** @internal */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as TestConnector from "../TestConnector.js"

/** @internal */
export const make = <E = TestConnector.TestConnectError>(
  options: { readonly script?: ReadonlyArray<TestConnector.Step<E>>; readonly otherwise?: TestConnector.Step<E> } = {}
): Effect.Effect<TestConnector.TestConnector<E>> =>
  Effect.sync(() => {
    let script: Array<TestConnector.Step<E>> = [...(options.script ?? [])]
    let otherwise: TestConnector.Step<E> = options.otherwise ?? { _tag: "Succeed" }
    const times: Array<number> = []
    let acquired = 0
    let released = 0
    let current:
      | { readonly connection: TestConnector.TestConnection; readonly lost: Deferred.Deferred<unknown> }
      | undefined
    const releases = new Map<number, number>()

    const runStep = (step: TestConnector.Step<E>, attempt: number): Effect.Effect<void, E> => {
      switch (step._tag) {
        case "Succeed":
          return Effect.void
        case "Fail":
          return Effect.fail(step.error)
        case "Hang":
          return Effect.never
        case "Delay":
          return Effect.zipRight(Effect.sleep(step.duration), runStep(step.then, attempt))
        case "Die":
          return Effect.die(step.defect)
      }
    }

    const acquire: Effect.Effect<TestConnector.TestConnection, E, Scope.Scope> = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      times.push(now)
      const attempt = times.length
      const step = script.shift() ?? otherwise
      yield* runStep(step, attempt)
      return yield* Effect.acquireRelease(
        Effect.gen(function*() {
          acquired += 1
          const connection: TestConnector.TestConnection = { id: acquired, attempt, connectedAt: now }
          current = { connection, lost: yield* Deferred.make<unknown>() }
          return connection
        }),
        (connection) =>
          Effect.sync(() => {
            released += 1
            releases.set(connection.id, (releases.get(connection.id) ?? 0) + 1)
            if (current?.connection === connection) current = undefined
          })
      )
    })

    const self: TestConnector.TestConnector<E> = {
      acquire,
      lost: (connection) =>
        Effect.suspend(() =>
          current !== undefined && current.connection === connection ? Deferred.await(current.lost) : Effect.never
        ),
      script: (...steps) =>
        Effect.sync(() => {
          script = [...steps]
        }),
      otherwise: (step) =>
        Effect.sync(() => {
          otherwise = step
        }),
      lose: (cause = new Error("connection lost")) =>
        Effect.suspend(() => current === undefined ? Effect.succeed(false) : Deferred.succeed(current.lost, cause)),
      attempts: Effect.sync(() => times.length),
      attemptTimes: Effect.sync(() => [...times]),
      acquired: Effect.sync(() => acquired),
      released: Effect.sync(() => released),
      releaseCount: (connection) => Effect.sync(() => releases.get(connection.id) ?? 0),
      live: Effect.sync(() => Option.fromNullable(current?.connection))
    }
    return self
  })
