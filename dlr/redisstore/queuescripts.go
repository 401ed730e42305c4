package redisstore

import "github.com/redis/go-redis/v9"

// Queue scripts. Each one's keys share the group's hash tag; the clients'
// sorted sets are named inside the scripts, from the prefix in ARGV[1]
// and the system_id the message starts with. Each starts with luaQueue.
//
// luaQueue: fenced tells whether a write of generation gen comes after
// the fence key was raised past it; unqueue takes message seq (v) out of
// its client's sorted set, and the client out of the ring once it has no
// message left; requeue puts it back, and the client in the ring if it
// was not, and reports whether the ring was empty before; wake tells
// every instance (channel q:events) that the group, whose clients' prefix
// ARGV[1] names, has messages to take again; giveBack puts back a message
// taken, and returns 1 if there is one (2 if the ring was empty); hand
// stamps seq taken and adds it and its message v to out;
// forget removes seq from the messages, the set of all, the
// expiries, the taken and the index by client id (field).
const luaQueue = `
local function sysOf(v) return string.sub(v, 2, 1 + string.byte(v, 1)) end
local function fenced(key, gen)
  local f = redis.call('GET', key)
  return f and tonumber(f) > tonumber(gen)
end
local function unqueue(ring, seq, v)
  local sys = sysOf(v)
  local ck = ARGV[1] .. sys
  if redis.call('ZREM', ck, seq) == 1 and redis.call('ZCARD', ck) == 0 then
    redis.call('LREM', ring, 0, sys)
  end
end
local function requeue(ring, seq, v)
  local sys = sysOf(v)
  local ck = ARGV[1] .. sys
  redis.call('ZADD', ck, seq, seq)
  if redis.call('ZCARD', ck) == 1 then
    return redis.call('RPUSH', ring, sys) == 1
  end
  return false
end
local function wake()
  local pre, group = string.match(ARGV[1], '^(.*)q:{(.*)}:c:$')
  if pre then redis.call('PUBLISH', pre .. 'q:events', group) end
end
local function giveBack(m, t, ring, seq)
  redis.call('HDEL', t, seq)
  local v = redis.call('HGET', m, seq)
  if not v then return 0 end
  if requeue(ring, seq, v) then return 2 end
  return 1
end
local function hand(out, t, seq, v, stamp)
  redis.call('HSET', t, seq, stamp)
  table.insert(out, seq)
  table.insert(out, v)
end
local function forget(m, a, x, t, i, field, seq)
  redis.call('HDEL', m, seq)
  redis.call('ZREM', a, seq)
  redis.call('ZREM', x, seq)
  redis.call('HDEL', t, seq)
  if redis.call('HGET', i, field) == seq then
    redis.call('HDEL', i, field)
  end
end
`

var (
	// scriptQEnqueue stores a message (ARGV[6]) unless its writer's fence
	// stands past its generation ARGV[3] or the group holds ARGV[2]
	// messages; it returns the message's seq.
	scriptQEnqueue = redis.NewScript(luaQueue + `
if fenced(KEYS[7], ARGV[3]) then
  return redis.error_reply('FENCED an enqueue sent before its writer undid it')
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then
  return redis.error_reply('QUEUEFULL store-and-forward queue full')
end
local seq = tostring(redis.call('INCR', KEYS[6]))
redis.call('HSET', KEYS[1], seq, ARGV[6])
redis.call('ZADD', KEYS[2], seq, seq)
if requeue(KEYS[3], seq, ARGV[6]) then wake() end
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[4], ARGV[5], seq)
end
redis.call('HSET', KEYS[5], ARGV[4], seq)
return seq`)
	// scriptQTake takes up to ARGV[2] messages, the clients in turn, and
	// stamps them ARGV[4]; it returns seq, message, seq, message...
	scriptQTake = redis.NewScript(luaQueue + `
if fenced(KEYS[4], ARGV[3]) then
  return redis.error_reply('FENCED a take sent before its writer undid it')
end
local out, n = {}, tonumber(ARGV[2])
while #out < 2 * n do
  local sys = redis.call('LPOP', KEYS[2])
  if not sys then break end
  local ck = ARGV[1] .. sys
  local p = redis.call('ZPOPMIN', ck)
  if #p > 0 then
    local v = redis.call('HGET', KEYS[1], p[1])
    if v then hand(out, KEYS[3], p[1], v, ARGV[4]) end
    if redis.call('ZCARD', ck) > 0 then
      redis.call('RPUSH', KEYS[2], sys)
    end
  end
end
return out`)
	// scriptQTakeExpired takes, as scriptQTake, up to ARGV[2] messages not
	// taken whose expiry is at or before ARGV[5] (Unix ms).
	scriptQTakeExpired = redis.NewScript(luaQueue + `
if fenced(KEYS[5], ARGV[3]) then
  return redis.error_reply('FENCED a take sent before its writer undid it')
end
local out, n, off = {}, tonumber(ARGV[2]), 0
while #out < 2 * n do
  local seqs = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[5], 'LIMIT', off, 100)
  if #seqs == 0 then break end
  off = off + #seqs
  for _, seq in ipairs(seqs) do
    if #out >= 2 * n then break end
    local v = redis.call('HGET', KEYS[1], seq)
    if v and redis.call('HEXISTS', KEYS[4], seq) == 0 then
      unqueue(KEYS[2], seq, v)
      hand(out, KEYS[4], seq, v, ARGV[4])
    end
  end
end
return out`)
	// scriptQPutBack puts back each message ARGV[2k] still stamped
	// ARGV[2k+1]; it returns how many it put back.
	scriptQPutBack = redis.NewScript(luaQueue + `
local n, woke = 0, false
for k = 2, #ARGV - 1, 2 do
  local seq = ARGV[k]
  if redis.call('HGET', KEYS[3], seq) == ARGV[k + 1] then
    local b = giveBack(KEYS[1], KEYS[3], KEYS[2], seq)
    if b > 0 then n = n + 1 end
    woke = woke or b == 2
  end
end
if woke then wake() end
return n`)
	// scriptQSettle removes the message ARGV[2] whatever its state if its
	// client id ARGV[3] names it: a seq given again, after a Redis that
	// lost its data restarted, is another message's.
	scriptQSettle = redis.NewScript(luaQueue + `
if redis.call('HGET', KEYS[6], ARGV[3]) ~= ARGV[2] then return 0 end
local v = redis.call('HGET', KEYS[1], ARGV[2])
forget(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[3], ARGV[2])
if v then unqueue(KEYS[3], ARGV[2], v) end
return 1`)
	// scriptQCancel removes the message of client id ARGV[2] unless it is
	// taken; it returns {taken, seq, message}, or nil when there is none.
	scriptQCancel = redis.NewScript(luaQueue + `
local seq = redis.call('HGET', KEYS[6], ARGV[2])
if not seq then return false end
local v = redis.call('HGET', KEYS[1], seq)
if not v then
  redis.call('HDEL', KEYS[6], ARGV[2])
  return false
end
if redis.call('HEXISTS', KEYS[5], seq) == 1 then
  return {1, seq, v}
end
unqueue(KEYS[3], seq, v)
forget(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[2], seq)
return {0, seq, v}`)
	// scriptQFind returns {taken, seq, message} of client id ARGV[1], or
	// nil.
	scriptQFind = redis.NewScript(`
local seq = redis.call('HGET', KEYS[3], ARGV[1])
if not seq then return false end
local v = redis.call('HGET', KEYS[1], seq)
if not v then return false end
return {redis.call('HEXISTS', KEYS[2], seq), seq, v}`)
	// scriptQLen returns the number of messages and the oldest one.
	scriptQLen = redis.NewScript(`
local n = redis.call('ZCARD', KEYS[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0)
local v = false
if #first > 0 then v = redis.call('HGET', KEYS[2], first[1]) end
return {n, v}`)
	// scriptQClaim restamps ARGV[1] the messages stamped by one of the
	// tokens ARGV[2..], processes that ended; it returns seq, message...
	scriptQClaim = redis.NewScript(luaQueue + `
local dead = {}
for i = 2, #ARGV do dead[ARGV[i]] = true end
local out = {}
local all = redis.call('HGETALL', KEYS[2])
for j = 1, #all, 2 do
  local tok = string.match(all[j + 1], '^(%S+) ')
  if tok and dead[tok] then
    local v = redis.call('HGET', KEYS[1], all[j])
    if v then hand(out, KEYS[2], all[j], v, ARGV[1]) end
  end
end
return out`)
	// scriptQUndo raises the fence KEYS[7] to ARGV[2] (PX ARGV[3]), puts
	// back the messages stamped with one of the ARGV[4] stamps that
	// follow and the seq and stamp pairs, as many as the number after
	// them says, that follow it, and removes the messages of the client
	// ids after those unless they are taken. It returns {put back,
	// removed, taken}.
	scriptQUndo = redis.NewScript(luaQueue + `
redis.call('SET', KEYS[7], ARGV[2], 'PX', ARGV[3])
local i = 4
local stamps, nstamps = {}, tonumber(ARGV[i])
for k = 1, nstamps do stamps[ARGV[i + k]] = true end
i = i + nstamps + 1
local back = {}
if nstamps > 0 then
  local all = redis.call('HGETALL', KEYS[5])
  for j = 1, #all, 2 do
    if stamps[all[j + 1]] then table.insert(back, all[j]) end
  end
end
local npairs = tonumber(ARGV[i])
for k = 1, npairs do
  local seq = ARGV[i + 2 * k - 1]
  if redis.call('HGET', KEYS[5], seq) == ARGV[i + 2 * k] then table.insert(back, seq) end
end
i = i + 2 * npairs + 1
local nback, removed, taken = 0, 0, 0
local woke = false
for _, seq in ipairs(back) do
  local b = giveBack(KEYS[1], KEYS[5], KEYS[3], seq)
  if b > 0 then nback = nback + 1 end
  woke = woke or b == 2
end
if woke then wake() end
for k = i, #ARGV do
  local seq = redis.call('HGET', KEYS[6], ARGV[k])
  if seq then
    local v = redis.call('HGET', KEYS[1], seq)
    if v and redis.call('HEXISTS', KEYS[5], seq) == 1 then
      taken = taken + 1
    else
      if v then
        unqueue(KEYS[3], seq, v)
        removed = removed + 1
      end
      forget(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], ARGV[k], seq)
    end
  end
end
return {nback, removed, taken}`)
)

// queueScripts are loaded with the others.
var queueScripts = []*redis.Script{scriptQEnqueue, scriptQTake, scriptQTakeExpired, scriptQPutBack, scriptQSettle,
	scriptQCancel, scriptQFind, scriptQLen, scriptQClaim, scriptQUndo}
