// Argument rules of the number-path transaction entry (translateFast, types.ts FAST_ACCESS): the
// library caller's usage errors, thrown as typed errors. Guest-controlled values never reach
// these checks as errors: a StreamID, SubstreamID or address the configuration cannot take is an
// architectural outcome (event or abort) of the translation itself.

import { VsmmuError } from '../arch/errors.ts';

/** Throws the usage error for bad translateFast arguments (the first bad one), else returns. */
export function checkFastArgs(sid: number, ssid: number, iova: number, flags: number): void {
  if (
    sid >>> 0 !== sid ||
    (ssid !== -1 && (ssid >>> 0 !== ssid || ssid >= 1048576)) ||
    !(iova >= 0 && iova <= Number.MAX_SAFE_INTEGER && Math.floor(iova) === iova) ||
    (flags & 7) !== flags
  ) {
    throw fastArgError(sid, ssid, iova, flags);
  }
}

/** The usage error for bad translateFast arguments (the first bad one, as the checks order them). */
function fastArgError(sid: number, ssid: number, iova: number, flags: number): VsmmuError {
  if (sid >>> 0 !== sid) {
    return new VsmmuError('OUT_OF_RANGE', `StreamID ${String(sid)} is not a u32`);
  }
  if (ssid !== -1 && (ssid >>> 0 !== ssid || ssid >= 2 ** 20)) {
    return new VsmmuError('OUT_OF_RANGE', `SubstreamID ${String(ssid)} is not 20 bits`);
  }
  if (!(iova >= 0 && iova <= Number.MAX_SAFE_INTEGER && Math.floor(iova) === iova)) {
    return new VsmmuError(
      'OUT_OF_RANGE',
      `input address ${String(iova)} is not an integer below 2^53 (use translate)`,
    );
  }
  return new VsmmuError('BAD_ARGUMENT', `access flags ${String(flags)} are not FAST_ACCESS`);
}
