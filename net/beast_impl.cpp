// Beast's separately compiled implementation (BOOST_BEAST_SEPARATE_COMPILATION): built once, linked everywhere.
#include <boost/beast/src.hpp>
