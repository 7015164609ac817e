import { describe, expect, it } from "@effect/vitest"
import { Fifo } from "../src/internal/pool/fifo.js"
import * as Slot from "../src/internal/pool/slot.js"
import type { IdleState, Live, PoolState, Slot as SlotT } from "../src/internal/pool/state.js"
import type * as TestDriver from "../src/TestDriver.js"

type T = TestDriver.TestTypes

describe("the pool's idle index", () => {
  it("stays within twice the pool's size over any number of idle → pinging → idle rounds", () => {
    const idle = new Fifo<IdleState<T>>()
    const slots: Array<SlotT<T>> = []
    const pool = { idle, slots } as unknown as PoolState<T>
    for (let index = 0; index < 3; index++) {
      slots.push({ index, manager: undefined as never, state: { _tag: "Connecting" } })
    }
    const live = { connection: { id: 1 }, expiresAt: Infinity, generation: 0 } as unknown as Live<T>
    let longest = 0
    for (let round = 0; round < 10_000; round++) {
      for (const slot of slots) {
        Slot.move(pool, slot, { _tag: "Idle", slot, live, since: round })
        longest = Math.max(longest, idle.length)
        // an idle ping: the slot leaves Idle without being taken from the index
        Slot.move(pool, slot, { _tag: "Pinging", live })
      }
    }
    expect(longest).toBeLessThanOrEqual(2 * slots.length + 1)
    // what remains are entries of slots that are idle now: taking them finds none
    expect(Slot.takeIdle(pool)).toBeUndefined()
  })
})
