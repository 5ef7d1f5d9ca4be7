// Asio's separately compiled implementation (BOOST_ASIO_SEPARATE_COMPILATION): built once, linked everywhere.
#include <boost/asio/impl/src.hpp>
// Its TLS layer too (contexts, streams' engine), for the tls/ library and TLS sessions.
#include <boost/asio/ssl/impl/src.hpp>
