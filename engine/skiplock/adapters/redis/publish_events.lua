-- Append events to the capped stream, each one carrying the id of the entry before it.
-- That back-link is how a reader learns it fell behind: XADD's MAXLEN trimming does not
-- record what it dropped (XINFO's max-deleted-entry-id only tracks XDEL), but when the
-- first entry after a reader's position names a predecessor newer than that position,
-- everything in between was trimmed. Atomic, so concurrent publishers from any number
-- of instances still form one unbroken chain.
--
-- KEYS[1]: the stream
-- ARGV[1]: MAXLEN (approximate: whole radix-tree nodes are dropped, so the stream holds
--          at least the newest MAXLEN entries and at most about one node more)
-- ARGV[2..]: event bodies (JSON), in publish order
-- Returns the id given to the last event.

local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if #newest > 0 then
  prev = newest[1][1]
end
for i = 2, #ARGV do
  prev = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i], 'p', prev)
end
return prev
