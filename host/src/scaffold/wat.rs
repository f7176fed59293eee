//! `retort revision --lang wat`: a revision component written directly in the
//! WebAssembly component text format. Retort compiles `.wat` files as they
//! are, so the scaffold is ready to run: `info` returns the new revision's
//! metadata from data segments, `upgrade` and `downgrade` succeed without
//! touching the database, and a `$run` helper shows how to execute SQL.

use super::NewRevision;

/// Static data laid out from this offset; the allocator starts above it.
const DATA_START: u32 = 1024;

/// Lays strings and lists out in linear memory.
struct Layout {
    next: u32,
    segments: Vec<(u32, Vec<u8>)>,
}

impl Layout {
    fn put(&mut self, bytes: Vec<u8>) -> u32 {
        let at = self.next;
        self.next = (at + bytes.len() as u32).next_multiple_of(8);
        self.segments.push((at, bytes));
        at
    }

    /// A `string`: (ptr, len).
    fn string(&mut self, s: &str) -> (u32, u32) {
        (self.put(s.as_bytes().to_vec()), s.len() as u32)
    }

    /// A `list<string>`: (ptr, len) of an array of (ptr, len).
    fn strings(&mut self, items: &[String]) -> (u32, u32) {
        if items.is_empty() {
            return (0, 0);
        }
        let mut array = Vec::new();
        for item in items {
            let (ptr, len) = self.string(item);
            array.extend(ptr.to_le_bytes());
            array.extend(len.to_le_bytes());
        }
        (self.put(array), items.len() as u32)
    }
}

/// `bytes` as a WAT string literal.
fn literal(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// The text of the component.
pub fn component(rev: &NewRevision) -> String {
    let mut layout = Layout {
        next: DATA_START,
        segments: Vec::new(),
    };
    let fields = [
        layout.string(&rev.id),
        layout.strings(&rev.down_revisions),
        layout.string(&rev.message),
        layout.strings(&rev.branch_labels),
        layout.strings(&rev.depends_on),
    ];
    let example = layout.string("SELECT 1");
    let heap = layout.next.next_multiple_of(65536).max(8192);
    let pages = heap / 65536 + 1;
    let mut data = String::new();
    for (at, bytes) in &layout.segments {
        data.push_str(&format!("    (data (i32.const {at}) {})\n", literal(bytes)));
    }
    let mut info = String::new();
    for (i, (ptr, len)) in fields.iter().enumerate() {
        let at = 512 + 8 * i;
        info.push_str(&format!(
            "      (i32.store (i32.const {at}) (i32.const {ptr})) (i32.store (i32.const {}) (i32.const {len}))\n",
            at + 4
        ));
    }
    let message = rev.message.lines().next().unwrap_or("").trim();
    TEMPLATE
        .replace("{ID}", &rev.id)
        .replace("{MESSAGE}", message)
        .replace("{PAGES}", &pages.to_string())
        .replace("{HEAP}", &heap.to_string())
        .replace("{DATA}", &data)
        .replace("{INFO}", &info)
        .replace("{EXAMPLE_PTR}", &example.0.to_string())
        .replace("{EXAMPLE_LEN}", &example.1.to_string())
}

const TEMPLATE: &str = r#";; Revision {ID}: {MESSAGE}
;;
;; A revision component in the WebAssembly component text format. Retort
;; compiles it as it is: copy it into the migrations directory.
;;
;; Canonical ABI layout (little-endian, 32-bit pointers):
;;   string / list<T>        = (ptr: i32, len: i32), 8 bytes
;;   value (variant)         = tag u8 at 0, payload at 8, 16 bytes
;;                             (0 null, 1 boolean, 2 integer, 3 float, 4 text, 5 blob)
;;   result<u64, db-error>   = tag u8 at 0, payload at 8; db-error = option<string> (12) + string
;;   result<_, string>       = tag u8 at 0, string at 4
;;   revision-info (record)  = id, down-revisions, message, branch-labels, depends-on at 0..40,
;;                             transactional (bool u8) at 40
(component
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

  ;; Memory and a bump allocator for the results the host writes back.
  (core module $Memory
    (memory (export "memory") {PAGES})
    (global $heap (mut i32) (i32.const {HEAP}))
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
  (core func $execute-lowered
    (canon lower (func $execute) (memory $mem) (realloc $realloc) string-encoding=utf8))

  (core module $Revision
    (import "env" "memory" (memory 1))
    (import "db" "execute" (func $execute (param i32 i32 i32 i32 i32)))
{DATA}
    ;; Runs one statement (sql ptr, len; params ptr, count); on a database
    ;; error writes err(message) at 600 and returns 1.
    (func $run (param $sql i32) (param $len i32) (param $params i32) (param $count i32)
               (result i32)
      (call $execute (local.get $sql) (local.get $len) (local.get $params) (local.get $count)
                     (i32.const 640))
      (if (i32.load8_u (i32.const 640))
        (then
          (i32.store8 (i32.const 600) (i32.const 1))
          (i32.store (i32.const 604) (i32.load (i32.const 660)))
          (i32.store (i32.const 608) (i32.load (i32.const 664)))
          (return (i32.const 1))))
      (i32.const 0))

    (func (export "info") (result i32)
{INFO}      (i32.store8 (i32.const 552) (i32.const 1))
      (i32.const 512))

    (func (export "upgrade") (result i32)
      ;; For example, with the statement at {EXAMPLE_PTR} ({EXAMPLE_LEN} bytes) and no parameters:
      ;; (if (call $run (i32.const {EXAMPLE_PTR}) (i32.const {EXAMPLE_LEN}) (i32.const 0) (i32.const 0))
      ;;   (then (return (i32.const 600))))
      (i32.store8 (i32.const 600) (i32.const 0))
      (i32.const 600))

    (func (export "downgrade") (result i32)
      (i32.store8 (i32.const 600) (i32.const 0))
      (i32.const 600)))
  (core instance $revision (instantiate $Revision
    (with "env" (instance (export "memory" (memory $mem))))
    (with "db" (instance (export "execute" (func $execute-lowered))))))

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
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Sandbox;
    use crate::scaffold::Lang;

    #[tokio::test]
    async fn the_scaffold_is_a_valid_component_that_reports_its_metadata() {
        let rev = NewRevision {
            id: "0a1b2c3d4e5f".into(),
            message: "tags \"quoted\" and \u{fc}n\u{ef}code\\".into(),
            down_revisions: vec!["111111111aaa".into(), "222222222bbb".into()],
            branch_labels: vec!["auth".into()],
            depends_on: vec!["333333333ccc".into()],
            lang: Lang::Wat,
        };
        let sandbox = Sandbox::new().unwrap();
        let component = sandbox
            .compile(component(&rev).as_bytes())
            .expect("the scaffold compiles");
        sandbox.check_imports(&component).unwrap();
        let info = sandbox
            .info(&crate::sandbox::Program::component(component))
            .await
            .unwrap();
        assert_eq!(info.id, rev.id);
        assert_eq!(info.message, rev.message);
        assert_eq!(info.down_revisions, rev.down_revisions);
        assert_eq!(info.branch_labels, rev.branch_labels);
        assert_eq!(info.depends_on, rev.depends_on);
        assert!(info.transactional);
    }

    #[tokio::test]
    async fn metadata_checked_in_the_call_must_match_or_nothing_runs() {
        use crate::dialect::Dialect;
        use crate::graph::Direction;
        use crate::sandbox::{CallResult, Program, Rules};
        use crate::sink::{Recorder, Sink};

        let rev = NewRevision {
            id: "0a1b2c3d4e5f".into(),
            message: "checked in the call".into(),
            down_revisions: vec![],
            branch_labels: vec![],
            depends_on: vec![],
            lang: Lang::Wat,
        };
        let sandbox = Sandbox::new().unwrap();
        let component = sandbox.compile(component(&rev).as_bytes()).unwrap();
        let program = Program::component(component);
        let mut info = sandbox.info(&program).await.unwrap();
        let call = |program: Program| {
            let sandbox = sandbox.clone();
            async move {
                let sink = Sink::Offline(Recorder::new(Dialect::Sqlite));
                let (_, outcome) = sandbox
                    .call(
                        &program,
                        Direction::Upgrade,
                        sink,
                        "0a1b2c3d4e5f",
                        &Rules::default(),
                    )
                    .await;
                outcome.result
            }
        };
        assert_eq!(
            call(program.clone().expecting(info.clone())).await,
            CallResult::Completed
        );
        info.message = "what a forged cache says".into();
        match call(program.expecting(info)).await {
            CallResult::Returned(message) => assert!(
                message.contains("0a1b2c3d4e5f: the revision reports other metadata than was read for it without running it"),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
    }
}
