//! Which functions of the file being compiled are *not* differentiable, so that
//! a call passing them a differentiated value is refused by name, at the call,
//! with the fix. A function defined elsewhere (another module file, another
//! crate) cannot be seen from here: a call to one is compiled as a call of its
//! `_vjp`, and rustc reports a missing one.

use std::collections::HashMap;
use std::path::PathBuf;

/// For each function name in the file: is some definition of it
/// differentiable, and is some definition of it not?
#[derive(Default, Clone)]
pub struct Callees {
    names: HashMap<String, (bool, bool)>,
}

impl Callees {
    /// The functions of the file the macro is expanding, when the compiler
    /// tells which file that is and it parses.
    pub fn of_current_file() -> Callees {
        if !proc_macro::is_available() {
            return Callees::default();
        }
        let Some(path) = proc_macro::Span::call_site().local_file() else {
            return Callees::default();
        };
        thread_local! {
            static CACHE: std::cell::RefCell<HashMap<PathBuf, Callees>> = std::cell::RefCell::new(HashMap::new());
        }
        CACHE.with(|cache| {
            cache
                .borrow_mut()
                .entry(path.clone())
                .or_insert_with(|| {
                    std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|src| syn::parse_file(&src).ok())
                        .map(|file| Callees::of_items(&file.items, false))
                        .unwrap_or_default()
                })
                .clone()
        })
    }

    fn of_items(items: &[syn::Item], in_marked_impl: bool) -> Callees {
        let mut c = Callees::default();
        for item in items {
            match item {
                syn::Item::Fn(f) => c.add(&f.sig.ident, in_marked_impl || marked(&f.attrs)),
                syn::Item::Impl(i) => {
                    let all = marked(&i.attrs);
                    for it in &i.items {
                        if let syn::ImplItem::Fn(f) = it {
                            c.add(&f.sig.ident, all || marked(&f.attrs));
                        }
                    }
                }
                syn::Item::Mod(m) => {
                    if let Some((_, items)) = &m.content {
                        c.merge(Callees::of_items(items, false));
                    }
                }
                _ => {}
            }
        }
        c
    }

    fn add(&mut self, name: &syn::Ident, differentiable: bool) {
        let name = name.to_string();
        // A hand-written `f_vjp` (a custom rule) makes `f` differentiable.
        if let Some(base) = name.strip_suffix("_vjp") {
            self.names.entry(base.to_string()).or_default().0 = true;
        }
        let e = self.names.entry(name).or_default();
        if differentiable {
            e.0 = true;
        } else {
            e.1 = true;
        }
    }

    fn merge(&mut self, other: Callees) {
        for (k, (d, n)) in other.names {
            let e = self.names.entry(k).or_default();
            e.0 |= d;
            e.1 |= n;
        }
    }

    /// True when every function of this name in the file lacks the attribute.
    pub fn surely_not_differentiable(&self, name: &str) -> bool {
        matches!(self.names.get(name), Some((false, true)))
    }
}

fn marked(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "differentiable")
    })
}
