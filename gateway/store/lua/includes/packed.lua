-- The packed change (replicator/packed.ts): one log entry as one binary string, 12 fields,
-- each a u32 big-endian length and the bytes: seq, keyspace, key, partition, bucket, value,
-- content type, version vector, hlc, origin, epoch, tombstone. Numbers as decimal text.
-- A write that carried an Idempotency-Key has 3 more (the idempotency trailer): the key, the
-- request's fingerprint (64 hex) and created ("1" | "0"), so the regions that apply the
-- change remember its outcome too. A change without a key keeps the 12-field layout.
local PACKED_FORMAT = ">I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0"
local PACKED_IDEM_FORMAT = ">I4c0I4c0I4c0"

-- idem: nil, or { key, fingerprint, created ("1" | "0") }
local function packChange(seq, ks, key, partition, bucket, value, ct, vvText, hlcText, origin, epoch, tomb, idem)
  seq = string.format("%d", seq)
  local packed = struct.pack(PACKED_FORMAT, #seq, seq, #ks, ks, #key, key, #partition, partition, #bucket, bucket,
    #value, value, #ct, ct, #vvText, vvText, #hlcText, hlcText, #origin, origin, #epoch, epoch, #tomb, tomb)
  if idem then
    packed = packed .. struct.pack(PACKED_IDEM_FORMAT, #idem[1], idem[1], #idem[2], idem[2], #idem[3], idem[3])
  end
  return packed
end

-- seq (number), keyspace, key, partition, bucket, value, ct, vv, hlc, origin, epoch, tombstone,
-- then the idempotency trailer's key, fingerprint and created (nil without one)
local function unpackChange(packed)
  local seq, ks, key, p, b, v, ct, vv, h, o, e, t, nextAt = struct.unpack(PACKED_FORMAT, packed)
  local ik, fp, cr
  if nextAt <= #packed then ik, fp, cr = struct.unpack(PACKED_IDEM_FORMAT, packed, nextAt) end
  return tonumber(seq), ks, key, p, b, v, ct, vv, h, o, e, t, ik, fp, cr
end
