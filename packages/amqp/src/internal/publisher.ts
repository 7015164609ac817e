/**
 * PLACEHOLDER: the confirmed publisher is being written (issue 10); this file only fixes its
 * signature so the package compiles.
 *
 * @internal
 */
import type { InvalidOption } from "@redial/core"
import type * as amqplib from "amqplib"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as AmqpChannel from "../AmqpChannel.js"
import type { Handle } from "./channel.js"

/** @internal */
export type Publisher = Pick<AmqpChannel.AmqpConfirmChannel, "publish" | "sendToQueue" | "pending" | "flush">

/** @internal */
export const make = (
  _handle: Handle<amqplib.ConfirmChannel>,
  _options: AmqpChannel.ConfirmChannelOptions
): Effect.Effect<Publisher, InvalidOption, Scope.Scope> => Effect.die("not written yet")
