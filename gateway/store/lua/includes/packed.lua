-- The packed change (replicator/packed.ts): one log entry as one binary string, 12 fields,
-- each a u32 big-endian length and the bytes: seq, keyspace, key, partition, bucket, value,
-- content type, version vector, hlc, origin, epoch, tombstone. Numbers as decimal text.
-- A write that carried an Idempotency-Key has 3 more (the idempotency trailer): the key, the
-- request's fingerprint (64 hex) and created ("1" | "0"), so the regions that apply the
-- change remember its outcome too. A version that expires has one more after those (the
-- expiry trailer): its absolute expiry, wall ms. A change without either keeps the 12-field
-- layout; the field count (12, 13, 15, 16) tells which trailers follow.
local PACKED_FORMAT = ">I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0"
local PACKED_IDEM_FORMAT = ">I4c0I4c0I4c0"
local PACKED_FIELD_FORMAT = ">I4c0"

-- idem: nil, or { key, fingerprint, created ("1" | "0") }; expires: nil or "" (none), or wall ms as text
local function packChange(seq, ks, key, partition, bucket, value, ct, vvText, hlcText, origin, epoch, tomb, idem, expires)
  seq = string.format("%d", seq)
  local packed = struct.pack(PACKED_FORMAT, #seq, seq, #ks, ks, #key, key, #partition, partition, #bucket, bucket,
    #value, value, #ct, ct, #vvText, vvText, #hlcText, hlcText, #origin, origin, #epoch, epoch, #tomb, tomb)
  if idem then
    packed = packed .. struct.pack(PACKED_IDEM_FORMAT, #idem[1], idem[1], #idem[2], idem[2], #idem[3], idem[3])
  end
  if expires and expires ~= "" then packed = packed .. struct.pack(PACKED_FIELD_FORMAT, #expires, expires) end
  return packed
end

-- seq (number), keyspace, key, partition, bucket, value, ct, vv, hlc, origin, epoch, tombstone,
-- then the idempotency trailer's key, fingerprint and created (nil without one), then the
-- expiry ("" without one)
local function unpackChange(packed)
  local seq, ks, key, p, b, v, ct, vv, h, o, e, t, nextAt = struct.unpack(PACKED_FORMAT, packed)
  local extra = {}
  while nextAt <= #packed and #extra < 4 do
    local f
    f, nextAt = struct.unpack(PACKED_FIELD_FORMAT, packed, nextAt)
    extra[#extra + 1] = f
  end
  local ik, fp, cr, x = nil, nil, nil, ""
  if #extra >= 3 then ik, fp, cr = extra[1], extra[2], extra[3] end
  if #extra == 1 or #extra == 4 then x = extra[#extra] end
  return tonumber(seq), ks, key, p, b, v, ct, vv, h, o, e, t, ik, fp, cr, x
end
