// Boost.URL compiled into the library instead of linking libboost_url.
#include <boost/url/src.hpp>
