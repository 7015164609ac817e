/**
 * Throwaway TLS material for tests of TLS connections, generated at test time
 * with the `openssl` command (EC P-256 keys, valid for a day) in a temporary
 * directory that is removed when the scope closes: a CA, a server certificate
 * for `localhost` / `127.0.0.1` / `::1` signed by it, and an unrelated CA (to
 * prove that trusting the wrong one fails the handshake). Needs `openssl` on
 * the PATH.
 *
 * @since 0.1.0
 */
import { RedialError } from "@redial/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"

/**
 * PEM-encoded certificates and key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Certificates {
  /** The CA that signed `cert`: what a client trusts. */
  readonly ca: Buffer
  /** The server's private key. */
  readonly key: Buffer
  /** The server certificate, for `DNS:localhost` and `IP:127.0.0.1` (and `::1`), signed by `ca`. */
  readonly cert: Buffer
  /** An unrelated CA, which did not sign `cert`: trusting it must fail the handshake. */
  readonly otherCa: Buffer
}

/**
 * `openssl` failed, or the temporary directory could not be used.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateError extends RedialError("CertificateError")<{
  readonly step: string
  readonly cause: unknown
}> {
  override get message() {
    return `Could not generate the test certificates (${this.step}): ${
      this.cause instanceof Error ? this.cause.message : String(this.cause)
    }`
  }
}

// A config of our own, so the result does not depend on the system's openssl.cnf.
const config = `
[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

const openssl = (cwd: string, args: ReadonlyArray<string>): Effect.Effect<void, CertificateError> =>
  Effect.async<void, CertificateError>((resume) => {
    const child = execFile("openssl", args, { cwd }, (error, _stdout, stderr) => {
      if (error === null) resume(Effect.void)
      else {resume(
          Effect.fail(new CertificateError({ step: `openssl ${args[0]}`, cause: new Error(stderr || error.message) }))
        )}
    })
    return Effect.sync(() => child.kill())
  })

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

const selfSignedCa = (dir: string, name: string) =>
  openssl(dir, [
    "req",
    "-x509",
    ...ecKey,
    "-config",
    "openssl.cnf",
    "-extensions",
    "ca_ext",
    "-subj",
    `/CN=${name}`,
    "-days",
    "1",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`
  ])

/**
 * Generates a CA, a server key and certificate signed by it, and an unrelated
 * CA. The files live in a temporary directory removed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Effect.Effect<Certificates, CertificateError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => fs.mkdtemp(path.join(os.tmpdir(), "redial-certs-")),
        catch: (cause) => new CertificateError({ step: "mkdtemp", cause })
      }),
      (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
    )
    yield* Effect.tryPromise({
      try: () => fs.writeFile(path.join(dir, "openssl.cnf"), config),
      catch: (cause) => new CertificateError({ step: "write openssl.cnf", cause })
    })
    yield* Effect.all([
      selfSignedCa(dir, "redial-test-ca"),
      selfSignedCa(dir, "redial-other-ca"),
      openssl(dir, [
        "req",
        "-new",
        ...ecKey,
        "-config",
        "openssl.cnf",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr"
      ])
    ], { concurrency: "unbounded", discard: true })
    yield* openssl(dir, [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "redial-test-ca.crt",
      "-CAkey",
      "redial-test-ca.key",
      "-set_serial",
      "1",
      "-days",
      "1",
      "-extfile",
      "openssl.cnf",
      "-extensions",
      "server_ext",
      "-out",
      "server.crt"
    ])
    const read = (file: string) =>
      Effect.tryPromise({
        try: () => fs.readFile(path.join(dir, file)),
        catch: (cause) => new CertificateError({ step: `read ${file}`, cause })
      })
    return yield* Effect.all({
      ca: read("redial-test-ca.crt"),
      key: read("server.key"),
      cert: read("server.crt"),
      otherCa: read("redial-other-ca.crt")
    })
  })
