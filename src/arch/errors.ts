// Usage errors of the library's own caller (interfaces.md §3): thrown as VsmmuError with a
// stable `code`. Architectural outcomes (faults, C_BAD_STE, CERROR_ILL) are never thrown, and the
// kernel model's failures are negative errnos, never exceptions.

/** Stable error codes; tests and scripts match on these, not on messages. */
export type VsmmuErrorCode =
  | 'BAD_ARGUMENT'
  | 'BAD_HEX'
  | 'BAD_WORD_COUNT'
  | 'UNKNOWN_STRUCTURE'
  | 'OUT_OF_RANGE'
  | 'BAD_CONFIG'
  | 'BAD_STATE'
  | 'BAD_INPUT';

/** Base class of every error the library throws on purpose. */
export class VsmmuError extends Error {
  readonly code: VsmmuErrorCode;
  constructor(code: VsmmuErrorCode, message: string) {
    super(message);
    this.name = 'VsmmuError';
    this.code = code;
  }
}
