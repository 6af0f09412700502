/**
 * Minimal typings for js-md4 0.3 (it ships none). Only the pure-JS path is declared on
 * purpose: calling the module itself on Node goes through `crypto.createHash('md4')`, which
 * OpenSSL 3 refuses (ERR_OSSL_EVP_UNSUPPORTED).
 */
declare module 'js-md4' {
  interface Md4 {
    update(message: Uint8Array | ArrayBuffer): Md4;
    arrayBuffer(): ArrayBuffer;
  }
  const md4: { create(): Md4 };
  export = md4;
}
