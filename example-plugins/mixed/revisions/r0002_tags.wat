;; Revision b7e2a90c4d11: the tags table, written by hand in the WebAssembly
;; component text format, to show how small the contract is. Retort compiles
;; `.wat` files as they are; no toolchain is needed.
;;
;; Canonical ABI layout used below (all little-endian, 32-bit pointers):
;;   string / list<T>        = (ptr: i32, len: i32), 8 bytes
;;   value (variant)         = tag u8 at 0, payload at 8 (s64, f64, string...), 16 bytes
;;   result<u64, db-error>   = tag u8 at 0, payload at 8; db-error = option<string> (12) + string
;;   result<_, string>       = tag u8 at 0, string at 4
;;   revision-info (record)  = id, down-revisions, message, branch-labels, depends-on at 0..40,
;;                             transactional (bool u8) at 40
(component
  ;; What this revision imports: `execute` from the host's database interface.
  ;; Type equality is structural, so the types are spelled out here.
  (type $database (instance
    (type $value (variant
      (case "null")
      (case "boolean" bool)
      (case "integer" s64)
      (case "float" float64)
      (case "text" string)
      (case "blob" (list u8))))
    (export "value" (type $value-e (eq $value)))
    (type $db-error (record (field "code" (option string)) (field "message" string)))
    (export "db-error" (type $db-error-e (eq $db-error)))
    (type $execute (func (param "sql" string) (param "params" (list $value-e))
                         (result (result u64 (error $db-error-e)))))
    (export "execute" (func (type $execute)))))
  (import "retort:migration/database@0.1.0" (instance $db (type $database)))
  (alias export $db "execute" (func $execute))

  ;; Linear memory and the allocator the host writes results with
  ;; (`cabi_realloc`, a bump allocator: a revision's lifetime is one call).
  (core module $Memory
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 8192))
    (func (export "cabi_realloc")
          (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
          (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $ptr) (local.get $new_size)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then
          (if (i32.eq
                (memory.grow
                  (i32.sub (i32.add (i32.shr_u (global.get $heap) (i32.const 16)) (i32.const 1))
                           (memory.size)))
                (i32.const -1))
            (then unreachable))))
      (if (local.get $old_size)
        (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
      (local.get $ptr)))
  (core instance $memory (instantiate $Memory))
  (alias core export $memory "memory" (core memory $mem))
  (alias core export $memory "cabi_realloc" (core func $realloc))

  ;; `execute`, lowered: (sql ptr, sql len, params ptr, params len, result ptr).
  (core func $execute-lowered
    (canon lower (func $execute) (memory $mem) (realloc $realloc) string-encoding=utf8))

  (core module $Revision
    (import "env" "memory" (memory 1))
    (import "db" "execute" (func $execute (param i32 i32 i32 i32 i32)))

    ;; Static data.
    (data (i32.const 1024) "b7e2a90c4d11")                        ;; id (12)
    (data (i32.const 1040) "5d0c1e2f3a4b")                        ;; parent (12)
    (data (i32.const 1056) "\10\04\00\00\0c\00\00\00")            ;; down-revisions: [(1040, 12)]
    (data (i32.const 1072) "tags for notes, written by hand in the WebAssembly text format") ;; (62)
    (data (i32.const 1152) "CREATE TABLE tags (id INTEGER NOT NULL PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes (id), name VARCHAR(64) NOT NULL)") ;; (126)
    (data (i32.const 1280) "INSERT INTO tags (id, note_id, name) VALUES ($1, $2, $3)") ;; (56)
    ;; The three bound parameters: integer(1), integer(1), text("welcome").
    (data (i32.const 1344)
      "\02\00\00\00\00\00\00\00" "\01\00\00\00\00\00\00\00"
      "\02\00\00\00\00\00\00\00" "\01\00\00\00\00\00\00\00"
      "\04\00\00\00\00\00\00\00" "\90\05\00\00\07\00\00\00")
    (data (i32.const 1424) "welcome")                             ;; (7)
    (data (i32.const 1440) "DROP TABLE tags")                     ;; (15)

    ;; Runs one statement; on a database error writes err(message) into the
    ;; result area at 600 and returns 1.
    (func $run (param $sql i32) (param $len i32) (param $params i32) (param $count i32)
               (result i32)
      (call $execute (local.get $sql) (local.get $len) (local.get $params) (local.get $count)
                     (i32.const 640))
      (if (i32.load8_u (i32.const 640))
        (then
          (i32.store8 (i32.const 600) (i32.const 1))
          (i32.store (i32.const 604) (i32.load (i32.const 660)))   ;; db-error.message ptr
          (i32.store (i32.const 608) (i32.load (i32.const 664)))   ;; db-error.message len
          (return (i32.const 1))))
      (i32.const 0))

    (func (export "info") (result i32)
      (i32.store (i32.const 512) (i32.const 1024)) (i32.store (i32.const 516) (i32.const 12))
      (i32.store (i32.const 520) (i32.const 1056)) (i32.store (i32.const 524) (i32.const 1))
      (i32.store (i32.const 528) (i32.const 1072)) (i32.store (i32.const 532) (i32.const 62))
      (i32.store (i32.const 536) (i32.const 0)) (i32.store (i32.const 540) (i32.const 0))
      (i32.store (i32.const 544) (i32.const 0)) (i32.store (i32.const 548) (i32.const 0))
      (i32.store8 (i32.const 552) (i32.const 1))
      (i32.const 512))

    (func (export "upgrade") (result i32)
      (if (call $run (i32.const 1152) (i32.const 126) (i32.const 0) (i32.const 0))
        (then (return (i32.const 600))))
      (if (call $run (i32.const 1280) (i32.const 56) (i32.const 1344) (i32.const 3))
        (then (return (i32.const 600))))
      (i32.store8 (i32.const 600) (i32.const 0))
      (i32.const 600))

    (func (export "downgrade") (result i32)
      (if (call $run (i32.const 1440) (i32.const 15) (i32.const 0) (i32.const 0))
        (then (return (i32.const 600))))
      (i32.store8 (i32.const 600) (i32.const 0))
      (i32.const 600)))
  (core instance $revision (instantiate $Revision
    (with "env" (instance (export "memory" (memory $mem))))
    (with "db" (instance (export "execute" (func $execute-lowered))))))

  ;; The exports of the `revision` world.
  (type $revision-info (record
    (field "id" string)
    (field "down-revisions" (list string))
    (field "message" string)
    (field "branch-labels" (list string))
    (field "depends-on" (list string))
    (field "transactional" bool)))
  (export $revision-info-e "revision-info" (type $revision-info))
  (func $info (result $revision-info-e)
    (canon lift (core func $revision "info") (memory $mem)))
  (func $upgrade (result (result (error string)))
    (canon lift (core func $revision "upgrade") (memory $mem)))
  (func $downgrade (result (result (error string)))
    (canon lift (core func $revision "downgrade") (memory $mem)))
  (export "info" (func $info))
  (export "upgrade" (func $upgrade))
  (export "downgrade" (func $downgrade)))
