//! The client: progenitor's builder-style output, plus its `types` module split out so the server
//! contract can use the very same wire types.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use progenitor_impl::{GenerationSettings, Generator, InterfaceStyle, TagStyle};

use crate::{Error, Spec};

/// progenitor's output, taken apart.
pub(crate) struct ClientOutput {
    /// The whole client file (it keeps its own `types` module: the client crate must not depend on
    /// the server crate, which pulls in axum).
    pub(crate) client: TokenStream,
    /// The items of the `types` module, for the server contract's `types.rs`.
    pub(crate) types: TokenStream,
    /// Names of every type in the type space, so the server generator can resolve names instead of
    /// guessing them.
    pub(crate) type_names: BTreeSet<String>,
}

pub(crate) fn generate(spec: &Spec) -> Result<ClientOutput, Error> {
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq");
    let mut generator = Generator::new(&settings);
    let client =
        generator.generate_tokens(spec.api()).map_err(|e| Error::Progenitor(e.to_string()))?;
    let type_names = generator.get_type_space().iter_types().map(|t| t.name()).collect();
    let types = extract_types_module(&client)?;
    Ok(ClientOutput { client, types, type_names })
}

/// Finds `pub mod types { ... }` in progenitor's output and returns its items.
fn extract_types_module(client: &TokenStream) -> Result<TokenStream, Error> {
    let file: syn::File = syn::parse2(client.clone())
        .map_err(|source| Error::Syntax { what: "progenitor output", source })?;
    for item in file.items {
        if let syn::Item::Mod(module) = item
            && module.ident == "types"
            && let Some((_, items)) = module.content
        {
            let mut tokens = TokenStream::new();
            for item in items {
                quote::ToTokens::to_tokens(&item, &mut tokens);
            }
            return Ok(tokens);
        }
    }
    Err(Error::Progenitor("progenitor's output has no `types` module".to_owned()))
}
