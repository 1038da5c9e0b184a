//! The `#[spectrum::main]` and `#[spectrum::test]` attributes.
//!
//! Both turn an `async fn` into a plain function that builds a Spectrum runtime and blocks on the
//! body. `#[spectrum::test]` also fails the test if tasks are still alive when the body returns
//! (after a short grace period for tasks that are finishing), naming each one.
//!
//! Options (all optional): `workers = N` (main: one per CPU; test: 1), `start_paused = true`
//! (test only: virtual time that jumps to the next timer when idle), `allow_leaks = true` (test
//! only: skip the leak check), `crate = path` (where `spectrum` is, for use inside the workspace).
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Lit, MetaNameValue, Path, Token};

#[derive(Default)]
struct Options {
    workers: Option<Expr>,
    start_paused: bool,
    allow_leaks: bool,
    krate: Option<Path>,
}

fn parse_options(args: TokenStream, is_test: bool) -> Result<Options, syn::Error> {
    let parser = Punctuated::<MetaNameValue, Token![,]>::parse_terminated;
    let list = parser.parse(args)?;
    let mut opts = Options::default();
    for nv in list {
        let name = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        match name.as_str() {
            "workers" => opts.workers = Some(nv.value),
            "start_paused" if is_test => opts.start_paused = parse_bool(&nv.value)?,
            "allow_leaks" if is_test => opts.allow_leaks = parse_bool(&nv.value)?,
            "crate" => {
                let Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }) = &nv.value
                else {
                    return Err(syn::Error::new(
                        nv.value.span(),
                        "expected `crate = \"path\"`",
                    ));
                };
                opts.krate = Some(s.parse()?);
            }
            _ => {
                let known = if is_test {
                    "`workers`, `start_paused`, `allow_leaks`, `crate`"
                } else {
                    "`workers`, `crate`"
                };
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!("unknown option `{name}`; expected one of {known}"),
                ));
            }
        }
    }
    Ok(opts)
}

fn parse_bool(e: &Expr) -> Result<bool, syn::Error> {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value),
        _ => Err(syn::Error::new(e.span(), "expected `true` or `false`")),
    }
}

fn expand(args: TokenStream, item: TokenStream, is_test: bool) -> TokenStream2 {
    let mut func: ItemFn = match syn::parse(item) {
        Ok(f) => f,
        Err(e) => return e.to_compile_error(),
    };
    let opts = match parse_options(args, is_test) {
        Ok(o) => o,
        Err(e) => return e.to_compile_error(),
    };
    if func.sig.asyncness.take().is_none() {
        return syn::Error::new(func.sig.fn_token.span(), "the function must be `async fn`")
            .to_compile_error();
    }
    if !is_test && func.sig.ident != "main" {
        return syn::Error::new(
            func.sig.ident.span(),
            "#[spectrum::main] goes on `async fn main`",
        )
        .to_compile_error();
    }
    if !func.sig.inputs.is_empty() {
        return syn::Error::new(
            func.sig.inputs.span(),
            "the function must take no arguments",
        )
        .to_compile_error();
    }
    let krate = opts.krate.unwrap_or_else(|| syn::parse_quote!(::spectrum));
    let workers = match opts.workers {
        Some(w) => quote!(::core::option::Option::Some(#w)),
        None => quote!(::core::option::Option::None),
    };
    let body = &func.block;
    let span = Span::call_site();
    let runner = if is_test {
        let start_paused = opts.start_paused;
        let check_leaks = !opts.allow_leaks;
        quote_spanned! {span=>
            #krate::__private::run_test(
                #krate::__private::TestConfig {
                    workers: #workers,
                    start_paused: #start_paused,
                    check_leaks: #check_leaks,
                },
                async move #body,
            )
        }
    } else {
        quote_spanned! {span=>
            #krate::__private::run_main(#workers, async move #body)
        }
    };
    func.block = syn::parse_quote!({ #runner });
    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    let block = &func.block;
    let test_attr = if is_test {
        quote!(#[::core::prelude::v1::test])
    } else {
        quote!()
    };
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig #block
    }
}

/// Runs `async fn main` on a Spectrum runtime.
///
/// ```
/// #[spectrum::main]
/// async fn main() {
///     let answer = spectrum::spawn(async { 42 }).await.unwrap();
///     println!("{answer}");
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, false).into()
}

/// Runs an `async fn` test on a fresh Spectrum runtime (one worker unless `workers = N`), and
/// fails it if it leaves tasks alive.
///
/// ```
/// #[spectrum::test(start_paused = true)]
/// async fn sleeps_an_hour_instantly() {
///     spectrum::time::sleep(std::time::Duration::from_secs(3600)).await;
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, true).into()
}
