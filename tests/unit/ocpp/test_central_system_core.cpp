// The central system's inbound handlers on their own, without a socket:
// what they answer and what they tell their observers.
#include "gridgate/ocpp/central_system_core.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace gridgate::ocpp {
namespace {

class CentralSystemCoreTest : public ::testing::Test {
  protected:
    CentralSystemCore& make(CoreOptions options = {}) {
        CoreObservers observers;
        observers.on_telemetry = [this](std::string_view, const std::vector<TelemetrySample>& s) {
            telemetry.push_back(s);
        };
        core = std::make_unique<CentralSystemCore>(std::move(options), std::move(observers));
        return *core;
    }

    rapidjson::Document call(std::string_view action, std::string_view payload) {
        rapidjson::Document request;
        request.Parse(payload.data(), payload.size());
        EXPECT_FALSE(request.HasParseError()) << payload;
        rapidjson::Document response;
        response.SetObject();
        EXPECT_FALSE(core->on_call("CP1", action, request, response));
        return response;
    }

    std::string id_tag_status(std::string_view action, std::string_view tag) {
        std::string payload = R"({"idTag":")" + std::string(tag) + "\"";
        if (action == "StartTransaction")
            payload += R"(,"connectorId":1,"meterStart":0,"timestamp":"2026-11-26T10:00:00Z")";
        auto response = call(action, payload + "}");
        return response["idTagInfo"]["status"].GetString();
    }

    std::unique_ptr<CentralSystemCore> core;
    std::vector<std::vector<TelemetrySample>> telemetry;
};

// IdToken is a CiString20Type: a listed tag matches in any ASCII case.
TEST_F(CentralSystemCoreTest, IdTagsMatchWithoutRegardToCase) {
    CoreOptions options;
    options.accept_all_id_tags = false;
    options.accepted_id_tags = {"TAG1", "Fleet-07"};
    make(std::move(options));
    for (const char* tag : {"TAG1", "tag1", "Tag1", "fleet-07", "FLEET-07"}) {
        EXPECT_EQ(id_tag_status("Authorize", tag), "Accepted") << tag;
        EXPECT_EQ(id_tag_status("StartTransaction", tag), "Accepted") << tag;
    }
    for (const char* tag : {"TAG2", "TAG", "TAG11", "fleet_07"}) {
        EXPECT_EQ(id_tag_status("Authorize", tag), "Invalid") << tag;
        EXPECT_EQ(id_tag_status("StartTransaction", tag), "Invalid") << tag;
    }
}

}  // namespace
}  // namespace gridgate::ocpp
