/**
 * The parser the channel uses. The connection strings live in `../GrpcConnectionString.ts`
 * (the models and the API) and `./connectionString/` (one file per scheme, printing).
 *
 * @internal
 */
export { parse } from "../GrpcConnectionString.js"
