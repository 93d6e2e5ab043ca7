-- The packed change (replicator/packed.ts): one log entry as one binary string, 12 fields,
-- each a u32 big-endian length and the bytes: seq, keyspace, key, partition, bucket, value,
-- content type, version vector, hlc, origin, epoch, tombstone. Numbers as decimal text.
local PACKED_FORMAT = ">I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0I4c0"

local function packChange(seq, ks, key, partition, bucket, value, ct, vvText, hlcText, origin, epoch, tomb)
  seq = string.format("%d", seq)
  return struct.pack(PACKED_FORMAT, #seq, seq, #ks, ks, #key, key, #partition, partition, #bucket, bucket,
    #value, value, #ct, ct, #vvText, vvText, #hlcText, hlcText, #origin, origin, #epoch, epoch, #tomb, tomb)
end

-- seq (number), keyspace, key, partition, bucket, value, ct, vv, hlc, origin, epoch, tombstone
local function unpackChange(packed)
  local seq, ks, key, p, b, v, ct, vv, h, o, e, t = struct.unpack(PACKED_FORMAT, packed)
  return tonumber(seq), ks, key, p, b, v, ct, vv, h, o, e, t
end
