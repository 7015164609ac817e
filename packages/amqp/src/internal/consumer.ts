/**
 * PLACEHOLDER: consumers are being written (issue 10); this file only fixes the signature so the
 * package compiles.
 *
 * @internal
 */
import type { Closed } from "@redial/core"
import type * as amqplib from "amqplib"
import * as Stream from "effect/Stream"
import type * as AmqpChannel from "../AmqpChannel.js"
import type { AmqpError } from "../AmqpError.js"
import type { Handle } from "./channel.js"

/** @internal */
export const consume = <C extends amqplib.Channel>(
  _handle: Handle<C>,
  _queue: string,
  _options: AmqpChannel.ConsumeOptions | undefined
): Stream.Stream<AmqpChannel.Delivery, AmqpError | Closed> => Stream.die("not written yet")
