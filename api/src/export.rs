//! The macros that export a connector from its library.

/// Exports a [`SourceConnector`](crate::SourceConnector) from a `cdylib`.
///
/// ```ignore
/// ferry_api::export_source!(SequenceSource, "com.example.SequenceSourceConnector");
/// ```
///
/// The class name is what users put in `connector.class`; its simple name and the simple name
/// without `Connector` work too (`SequenceSourceConnector`, `SequenceSource`). One connector per
/// library.
#[macro_export]
macro_rules! export_source {
    ($connector:ty, $class_name:expr) => {
        $crate::__export_plugin!(source_descriptor, $connector, $class_name);
    };
}

/// Exports a [`SinkConnector`](crate::SinkConnector) from a `cdylib`.
///
/// ```ignore
/// ferry_api::export_sink!(LogSink, "com.example.LogSinkConnector");
/// ```
#[macro_export]
macro_rules! export_sink {
    ($connector:ty, $class_name:expr) => {
        $crate::__export_plugin!(sink_descriptor, $connector, $class_name);
    };
}

/// Exports a [`Transformation`](crate::transform::Transformation) from a `cdylib`.
///
/// ```ignore
/// ferry_api::export_transformation!(Uppercase, "com.example.Uppercase");
/// ```
///
/// Connector configs name it in `transforms.<alias>.type`, by class name or simple name. One
/// plugin per library.
#[macro_export]
macro_rules! export_transformation {
    ($transformation:ty, $class_name:expr) => {
        $crate::__export_plugin!(transformation_descriptor, $transformation, $class_name);
    };
}

/// Exports a [`Predicate`](crate::transform::Predicate) from a `cdylib`.
///
/// ```ignore
/// ferry_api::export_predicate!(IsUrgent, "com.example.IsUrgent");
/// ```
#[macro_export]
macro_rules! export_predicate {
    ($predicate:ty, $class_name:expr) => {
        $crate::__export_plugin!(predicate_descriptor, $predicate, $class_name);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ($builder:ident, $connector:ty, $class_name:expr) => {
        /// The ABI version this library was built against; read by the worker before anything else.
        // The exported names are the plugin contract (see ferry_api::abi).
        #[allow(unsafe_code)]
        #[deny(improper_ctypes_definitions)]
        #[no_mangle]
        pub extern "C" fn ferry_plugin_abi_version() -> u32 {
            $crate::abi::ABI_VERSION
        }

        /// The connector's descriptor: names, schema and entry points. The name carries the ABI
        /// version (`ferry_api::abi::DESCRIPTOR_SYMBOL`).
        #[allow(unsafe_code)]
        #[deny(improper_ctypes_definitions)]
        #[no_mangle]
        pub extern "C" fn ferry_plugin_descriptor_v3() -> *const $crate::abi::PluginDescriptor {
            static DESCRIPTOR: ::std::sync::OnceLock<$crate::abi::DescriptorPtr> =
                ::std::sync::OnceLock::new();
            ::std::panic::catch_unwind(|| {
                DESCRIPTOR
                    .get_or_init(|| $crate::abi::$builder::<$connector>($class_name))
                    .0
            })
            .unwrap_or(::std::ptr::null())
        }
    };
}
