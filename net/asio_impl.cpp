// Asio's separately compiled implementation (BOOST_ASIO_SEPARATE_COMPILATION): built once, linked everywhere.
#include <boost/asio/impl/src.hpp>
