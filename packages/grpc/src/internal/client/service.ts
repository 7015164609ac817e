/**
 * A service definition, of any accepted shape, reduced to what a call needs: the path, the kind
 * and the two serializers. Resolved once per method name and cached, so a call pays one lookup.
 *
 * @internal
 */
import type * as GrpcClient from "../../GrpcClient.js"

/** @internal */
export type Kind = GrpcClient.MethodKind

/** @internal */
export interface Resolved {
  readonly path: string
  readonly kind: Kind
  readonly serialize: (value: unknown) => Buffer
  readonly deserialize: (bytes: Buffer) => unknown
}

/** Why a name does not resolve: a `GrpcClientError` reason and its prose. @internal */
export interface Unresolved {
  readonly reason: "UnknownMethod" | "InvalidDefinition"
  readonly detail: string
}

const kindOf = (requestStream: unknown, responseStream: unknown): Kind =>
  requestStream === true
    ? (responseStream === true ? "bidiStream" : "clientStream")
    : (responseStream === true ? "serverStream" : "unary")

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

const isFunction = (u: unknown): u is (...args: ReadonlyArray<unknown>) => unknown => typeof u === "function"

const own = (record: object, key: string): unknown =>
  Object.prototype.hasOwnProperty.call(record, key) ? (record as Record<string, unknown>)[key] : undefined

interface TsProtoMessage {
  readonly encode: (message: unknown) => { finish(): Uint8Array }
  readonly decode: (input: Uint8Array) => unknown
  readonly fromPartial?: (object: unknown) => unknown
}

const isTsProtoMessage = (u: unknown): u is TsProtoMessage =>
  isObject(u) && isFunction(u.encode) && isFunction(u.decode)

const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const fromGrpcJs = (name: string, method: unknown): Resolved | Unresolved => {
  if (
    !isObject(method) || typeof method.path !== "string" || !isFunction(method.requestSerialize) ||
    !isFunction(method.responseDeserialize)
  ) {
    return { reason: "InvalidDefinition", detail: `"${name}" has no path, requestSerialize or responseDeserialize` }
  }
  const serialize = method.requestSerialize as (value: unknown) => Buffer
  const deserialize = method.responseDeserialize as (bytes: Buffer) => unknown
  return { path: method.path, kind: kindOf(method.requestStream, method.responseStream), serialize, deserialize }
}

const fromTsProto = (fullName: string, name: string, method: unknown): Resolved | Unresolved => {
  if (
    !isObject(method) || typeof method.name !== "string" || !isTsProtoMessage(method.requestType) ||
    !isTsProtoMessage(method.responseType)
  ) {
    return { reason: "InvalidDefinition", detail: `"${name}" has no name, requestType or responseType` }
  }
  const requestType = method.requestType
  const responseType = method.responseType
  const fromPartial = requestType.fromPartial
  // As nice-grpc: a request is what fromPartial takes, so it may leave fields out.
  const serialize = fromPartial === undefined
    ? (value: unknown) => toBuffer(requestType.encode(value).finish())
    : (value: unknown) => toBuffer(requestType.encode(fromPartial.call(requestType, value)).finish())
  return {
    path: `/${fullName}/${method.name}`,
    kind: kindOf(method.requestStream, method.responseStream),
    serialize,
    deserialize: (bytes) => responseType.decode(bytes)
  }
}

/**
 * The resolver of `definition`'s methods by name: a ts-proto generic definition (`fullName` and
 * `methods`), a client constructor with a `service`, or a grpc-js service definition.
 *
 * @internal
 */
export const resolver = (definition: unknown): (name: string) => Resolved | Unresolved => {
  const cache = new Map<string, Resolved | Unresolved>()
  const source = isFunction(definition) && isObject(own(definition, "service"))
    ? own(definition, "service") as object
    : definition
  const tsProto = isObject(source) && typeof source.fullName === "string" && isObject(source.methods)
  const methods = tsProto ? (source as { methods: object }).methods : source
  const resolve = (name: string): Resolved | Unresolved => {
    const method = isObject(methods) ? own(methods, name) : undefined
    if (method === undefined) {
      const known = isObject(methods) ? Object.keys(methods) : []
      return {
        reason: "UnknownMethod",
        detail: `the service has no method of this name (it has: ${known.length === 0 ? "none" : known.join(", ")})`
      }
    }
    return tsProto ? fromTsProto((source as { fullName: string }).fullName, name, method) : fromGrpcJs(name, method)
  }
  return (name) => {
    let resolved = cache.get(name)
    if (resolved === undefined) {
      resolved = resolve(name)
      // Only names the service has are cached: an untyped caller's names cannot grow the cache.
      if (isResolved(resolved) || resolved.reason !== "UnknownMethod") cache.set(name, resolved)
    }
    return resolved
  }
}

/** @internal */
export const isResolved = (u: Resolved | Unresolved): u is Resolved => "path" in u
